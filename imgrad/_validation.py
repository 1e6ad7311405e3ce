"""The one place where arguments are checked.

Every message follows one template, naming the parameter, the function,
what is allowed and what was received::

    The 'ksize' parameter of sobel must be one of {1, 3, 5, ..., 31}. Got 4 instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_DTYPES",
    "check_bool",
    "check_channels_last",
    "check_choice",
    "check_float",
    "check_image",
    "check_int",
    "check_out",
    "check_same_shape",
    "describe",
    "fail",
    "parts_of_checked_images",
]

#: The dtypes every operator accepts.
IMAGE_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
_DTYPE_NAMES = "{uint8, uint16, int16, float32, float64}"
#: The most channels a 3-D array may have with so few rows: beyond, it is taken
#: for a channel-first (C, H, W) array (RGBA has four).
_MAX_CHANNELS = 4

#: True while an executor runs steps on parts (strips, tiles, blocks) of images
#: it checked whole: a strip of a few rows of a 6-channel image is no (C, H, W) array.
_IN_PARTS = contextvars.ContextVar("imgrad_in_parts", default=False)

#: How to get an array from the array types imgrad does not take, by top-level module.
_CONVERSIONS = {
    "PIL": "for a PIL image, use np.asarray(image)",
    "dask": "for a dask array, use imgrad.dask.apply(pipeline, array)",
    "xarray": "for an xarray DataArray, use image.values or np.asarray(image)",
    "torch": "for a torch tensor, use image.numpy()",
    "cupy": "for a CuPy array, use image.get()",
}


def describe(value: Any) -> str:
    """Short, readable description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # another library's array
        kind = f"{type(value).__module__.partition('.')[0]}.{type(value).__qualname__}"
        return f"a {kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def fail(param: str, where: str, allowed: str, value: Any, exc: type = ValueError):
    """Build the standard exception (the caller raises it)."""
    return exc(
        f"The {param!r} parameter of {where} must be {allowed}. Got {describe(value)} instead."
    )


def _format_set(allowed: Collection) -> str:
    return "{" + ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed) + "}"


def check_choice(value: Any, allowed: Collection, *, param: str, where: str) -> Any:
    """Return `value` if it is one of `allowed` (strings compared exactly)."""
    if isinstance(value, (str, numbers.Number)) and not isinstance(value, bool):
        if value in allowed:
            return value
    elif isinstance(value, bool) and value in allowed and any(a is value for a in allowed):
        return value
    raise fail(param, where, f"one of {_format_set(allowed)}", value)


def check_bool(value: Any, *, param: str, where: str) -> bool:
    """Return `value` if it is a real boolean (``np.bool_`` accepted)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise fail(param, where, "True or False", value, TypeError)


def check_int(
    value: Any,
    *,
    param: str,
    where: str,
    low: int | None = None,
    high: int | None = None,
    odd: bool = False,
) -> int:
    """Return `value` as an int within ``[low, high]`` (and odd if asked)."""
    rule = int_rule(low, high, odd)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(param, where, rule, value, TypeError)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(param, where, rule, value)
    if odd and value % 2 == 0:
        raise fail(param, where, rule, value)
    return value


def int_rule(low: int | None, high: int | None, odd: bool = False) -> str:
    """Text of an integer rule, e.g. "an odd integer from 1 to 31"."""
    kind = "an odd integer" if odd else "an integer"
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def check_float(
    value: Any,
    *,
    param: str,
    where: str,
    low: float | None = None,
    low_inclusive: bool = True,
    finite: bool = True,
    high: float | None = None,
) -> float:
    """Return `value` as a float, finite, above `low` and up to `high` if asked."""
    rule = float_rule(low, low_inclusive, finite, high)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(param, where, rule, value, TypeError)
    value = float(value)
    if finite and not np.isfinite(value):
        raise fail(param, where, rule, value)
    if low is not None and (value < low or (not low_inclusive and value == low)):
        raise fail(param, where, rule, value)
    if high is not None and value > high:
        raise fail(param, where, rule, value)
    return value


def float_rule(
    low: float | None, low_inclusive: bool = True, finite: bool = True, high: float | None = None
) -> str:
    """Text of a number rule, e.g. "a number > 0" or "a number > 0 and <= 100"."""
    if low is None and high is None:
        return "a finite number" if finite else "a number"
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return "a number " + " and ".join(parts)


def check_image(image: Any, *, where: str, param: str = "image") -> np.ndarray:
    """Check an image argument: a 2-D (H, W) or 3-D (H, W, C) array of a supported dtype.

    Returns the array itself (never modified), or, for an array in the other
    byte order (``>u2`` on a little-endian machine), a native copy of it.
    """
    if not isinstance(image, np.ndarray):
        raise fail(
            param,
            where,
            f"a NumPy array of dtype {_DTYPE_NAMES}{_conversion(image)}",
            image,
            TypeError,
        )
    if isinstance(image, np.ma.MaskedArray):
        raise TypeError(
            f"The {param!r} parameter of {where} must be a plain NumPy array, not a masked "
            "array (imgrad has no use for a mask): fill the masked pixels with "
            f"{param}.filled(value), or drop the mask with np.asarray({param}). "
            f"Got {describe(image)} instead."
        )
    if image.dtype.type not in IMAGE_DTYPES:
        raise TypeError(
            f"The {param!r} parameter of {where} must have dtype {_DTYPE_NAMES}. "
            f"Got dtype {image.dtype} instead."
        )
    if image.ndim not in (2, 3):
        raise ValueError(
            f"The {param!r} parameter of {where} must be 2-D (H, W) or 3-D (H, W, C). "
            f"Got {image.ndim}-D shape {image.shape} instead."
        )
    if image.shape[0] == 0 or image.shape[1] == 0 or (image.ndim == 3 and image.shape[2] == 0):
        raise ValueError(
            f"The {param!r} parameter of {where} must not be empty. "
            f"Got shape {image.shape} instead."
        )
    if not _IN_PARTS.get():
        check_channels_last(image.shape, where=where, param=param)
    if not image.dtype.isnative:  # OpenCV reads native byte order only
        image = image.astype(image.dtype.newbyteorder("="))
    return image


def check_channels_last(shape: tuple[int, ...], *, where: str, param: str = "image") -> None:
    """Refuse a 3-D shape that looks channel-first: (C, H, W) with C <= 4 < W.

    A genuine (H, W, C) image with more than four channels (multispectral) has
    more than four rows.
    """
    if len(shape) == 3 and shape[0] <= _MAX_CHANNELS < shape[2]:
        raise ValueError(
            f"The {param!r} parameter of {where} must be (H, W) or (H, W, C) with channels "
            f"last; move them with np.moveaxis({param}, 0, -1). Got shape {tuple(shape)} "
            f"instead, which looks channel-first (C, H, W)."
        )


@contextlib.contextmanager
def parts_of_checked_images() -> Iterator[None]:
    """Within: the images operators get are parts of images whose shape was checked
    whole (an executor's strips, tiles or blocks), so their shape is not checked
    again for channel-first layout."""
    token = _IN_PARTS.set(True)
    try:
        yield
    finally:
        _IN_PARTS.reset(token)


def _conversion(value: Any) -> str:
    """ "; <how to get a NumPy array from it>" for a known array type, else ""."""
    if isinstance(value, (list, tuple)):
        return "; convert a nested list with np.asarray(image)"
    library = type(value).__module__.partition(".")[0]
    if library in _CONVERSIONS:
        return "; " + _CONVERSIONS[library]
    if hasattr(value, "__array__"):
        return "; convert it with np.asarray(image)"
    return ""


def check_out(
    out: Any, shape: tuple[int, ...], dtype: np.dtype, *, where: str, param: str = "out"
) -> np.ndarray:
    """Check an output buffer: a writeable C-contiguous array of the result's shape and dtype."""
    dtype = np.dtype(dtype)
    if (
        not isinstance(out, np.ndarray)
        or out.shape != tuple(shape)
        or out.dtype != dtype
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise fail(
            param,
            where,
            f"a writeable C-contiguous array of shape {tuple(shape)} and dtype {dtype}",
            out,
            TypeError if not isinstance(out, np.ndarray) else ValueError,
        )
    return out


def check_same_shape(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str], where: str):
    """Check two planes (e.g. gx and gy) have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"The {names[0]!r} and {names[1]!r} parameters of {where} must have the same "
            f"shape. Got {a.shape} and {b.shape} instead."
        )
