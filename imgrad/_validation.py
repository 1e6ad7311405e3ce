"""The one place where arguments are checked.

Every message follows one template, naming the parameter, the function,
what is allowed and what was received::

    The 'ksize' parameter of sobel must be one of {1, 3, 5, ..., 31}. Got 4 instead.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_DTYPES",
    "check_bool",
    "check_choice",
    "check_float",
    "check_image",
    "check_int",
    "check_out",
    "check_same_shape",
    "describe",
    "fail",
]

#: The dtypes every operator accepts.
IMAGE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_DTYPE_NAMES = "{uint8, uint16, float32, float64}"


def describe(value: Any) -> str:
    """Short, readable description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
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

    Returns the array itself (never a copy, never modified).
    """
    if not isinstance(image, np.ndarray):
        raise fail(param, where, f"a NumPy array of dtype {_DTYPE_NAMES}", image, TypeError)
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
    return image


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
