"""Scaling float planes to 8- or 16-bit integers for image files and display."""

from __future__ import annotations

import numpy as np

from imgrad._params import Choice, OptionalFloat
from imgrad._validation import check_image, check_out

__all__ = ["check_range", "finite_bounds", "scale", "scale_bounds", "scale_owned"]

METHOD = Choice(
    "method",
    ("minmax", "clip", "range"),
    "minmax: this image's min..max to 0..top; clip: round and clip values to 0..top; "
    "range: low..high to 0..top (the same for every image)",
)
DTYPE = Choice("dtype", ("uint8", "uint16"), "integer type of the result")
LOW = OptionalFloat("low", "value mapped to 0 (method=range)")
HIGH = OptionalFloat("high", "value mapped to the top of the dtype (method=range)")


def scale(
    image: np.ndarray,
    *,
    method: str = "minmax",
    dtype: str = "uint8",
    low: float | None = None,
    high: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Map a plane to uint8 or uint16.

    Parameters
    ----------
    image : ndarray
        Any supported dtype, (H, W) or (H, W, C). NaN becomes 0.
    method : {"minmax", "clip", "range"}
        "minmax": the image's own minimum and maximum (over all channels) map
        to 0 and the top value; a constant image gives 0. Values are not
        comparable between images: use "range" for a dataset.
        "clip": values are rounded and clipped to [0, top] unchanged.
        "range": `low` maps to 0 and `high` to the top; outside is clipped.
    dtype : {"uint8", "uint16"}
    low, high : float, optional
        Required with method="range" (and only then); low < high.
    out : ndarray, optional
        Array of the result's shape and dtype to write into.

    Returns
    -------
    ndarray
        uint8 or uint16, same shape. Values are rounded half to even.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> imgrad.scale(np.array([[0.0, 0.5, 2.0]]))
    array([[  0,  64, 255]], dtype=uint8)
    >>> imgrad.scale(np.array([[-3.0, 7.4, 300.0]]), method="clip")
    array([[  0,   7, 255]], dtype=uint8)
    >>> imgrad.scale(np.array([[0.0, 180.0, 360.0]]), method="range", low=0, high=360)
    array([[  0, 128, 255]], dtype=uint8)
    """
    where = "scale"
    image = check_image(image, where=where)
    method = METHOD.check(method, where)
    dtype = DTYPE.check(dtype, where)
    low, high = check_range(method, LOW.check(low, where), HIGH.check(high, where), where)
    if out is not None:
        check_out(out, image.shape, np.dtype(dtype), where=where)
    return scale_owned(image, method, dtype, low, high, out, owned=False)


def scale_owned(image, method, dtype, low=None, high=None, out=None, *, owned=True):
    """:func:`scale` of checked arguments; if `owned`, free to overwrite `image`
    (a plane the caller drops: then no full-size temporary is allocated)."""
    top = float(np.iinfo(dtype).max)
    work = np.float64 if image.dtype == np.float64 else np.float32
    bounds = finite_bounds(image) if image.dtype.kind == "f" or method == "minmax" else None
    if bounds is None and image.dtype.kind == "f":
        # NaN becomes 0, infinities the largest finite values (on a copy)
        image, owned = np.nan_to_num(image.astype(work), copy=False, nan=0.0), True
    with np.errstate(over="ignore", invalid="ignore"):  # extremes saturate, as clipped below
        if method == "clip":
            values = image.astype(work, copy=not owned)
        else:
            lo, hi = (low, high) if method == "range" else bounds or scale_bounds(image)
            factor = top / (hi - lo) if hi > lo else 0.0
            if factor > 0:
                into = image if owned and image.dtype == work else None
                values = np.subtract(image, work(lo), dtype=work, out=into)
                values *= work(factor)
            else:  # a constant plane, or a range too wide to represent
                values = np.zeros(image.shape, work)
        # Clipped first, the rounded values fit the integer type: rint writes them there.
        np.clip(values, 0, top, out=values)
    if out is None:
        out = np.empty(image.shape, dtype)
    np.rint(values, out=out, casting="unsafe")
    return out


def finite_bounds(image: np.ndarray) -> tuple[float, float] | None:
    """Minimum and maximum, or None if the image holds NaN or an infinity (two
    fast reductions, no temporary array).

    Examples
    --------
    >>> finite_bounds(np.array([[1.0, 3.0]])), finite_bounds(np.array([[1.0, np.nan]]))
    ((1.0, 3.0), None)
    """
    if image.size == 0:
        return (0.0, 0.0)
    low, high = float(image.min()), float(image.max())
    return (low, high) if np.isfinite(low) and np.isfinite(high) else None


def scale_bounds(image: np.ndarray) -> tuple[float, float]:
    """Finite minimum and maximum of a plane (0, 0 if it has none)."""
    low, high = float(image.min()), float(image.max())
    if np.isfinite(low) and np.isfinite(high):  # the common case: no NaN, no infinity
        return low, high
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def check_range(method: str, low: float | None, high: float | None, where: str):
    """Check that low and high are given exactly when method is "range"."""
    if method == "range":
        if low is None or high is None or not high > low:
            raise ValueError(
                f"The 'low' and 'high' parameters of {where} must both be given, with "
                f"low < high, for method='range'. Got low={low!r}, high={high!r} instead."
            )
    elif low is not None or high is not None:
        raise ValueError(
            f"The 'low' and 'high' parameters of {where} are only used with method='range'. "
            f"Got method={method!r} with low={low!r}, high={high!r}."
        )
    return low, high
