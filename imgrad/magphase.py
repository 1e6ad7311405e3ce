"""Gradient magnitude and phase (direction), and both at once (polar form).

Phase conventions
-----------------
=====================  ============================  ==========================
option                 meaning                       same as
=====================  ============================  ==========================
convention="image"     atan2(gy, gx): x right,       ``cv2.phase``,
                       y down, so angles turn        ``cv2.cartToPolar``
                       clockwise on screen
convention="math"      atan2(-gy, gx): y up, angles  MATLAB/Octave
                       turn counter-clockwise        ``imgradient`` (Gdir)
wrap="full"            [0, 2pi) or [0, 360)          ``cv2.phase``
wrap="signed"          (-pi, pi] or (-180, 180]      ``np.arctan2``, MATLAB
wrap="half"            [0, pi) or [0, 180):          HOG's unsigned gradients
                       orientation, polarity ignored
=====================  ============================  ==========================

Where ``gx == gy == 0`` the phase is 0 in every convention.

The default fast path uses OpenCV's polynomial arctangent (error under
2e-4 rad); ``precise=True`` computes ``arctan2`` in float64 (error under 1e-6 rad
after rounding to float32).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np

from imgrad._border import cv_view, deliver
from imgrad._dtype import float_dtype
from imgrad._params import Bool, Choice
from imgrad._scratch import scratch
from imgrad._validation import check_image, check_out, check_same_shape, fail

__all__ = ["Polar", "magnitude", "phase", "phase_range", "polar"]

NORM = Choice("norm", ("l2", "l1", "max"), "l2: sqrt(gx²+gy²); l1: |gx|+|gy|; max: max(|gx|,|gy|)")
DEGREES = Bool("degrees", "angles in degrees instead of radians")
CONVENTION = Choice(
    "convention", ("image", "math"), "image: atan2(gy, gx), y down (OpenCV); math: y up (MATLAB)"
)
WRAP = Choice(
    "wrap",
    ("full", "signed", "half"),
    "full: [0, 2pi); signed: (-pi, pi]; half: [0, pi), orientation without polarity",
)
#: At least the number of elements OpenCV's widest vector code takes at once.
LANES = 64

PRECISE = Bool("precise", "exact float64 arctan2 instead of OpenCV's fast one (error 2e-4 rad)")


class Polar(NamedTuple):
    """Gradient magnitude and phase planes."""

    magnitude: np.ndarray
    phase: np.ndarray


def magnitude(
    gx: np.ndarray, gy: np.ndarray, *, norm: str = "l2", out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient magnitude.

    Parameters
    ----------
    gx, gy : ndarray
        Derivatives of the same shape, (H, W) or (H, W, C), any supported dtype.
    norm : {"l2", "l1", "max"}
        ``sqrt(gx² + gy²)``, ``|gx| + |gy|`` or ``max(|gx|, |gy|)``. Each
        operation is rounded in the output type, so the bits never depend on
        memory layout or tiling.
    out : ndarray, optional
        Array to write the result into (the result's shape and dtype).

    Returns
    -------
    ndarray
        float32 (float64 if either input is float64), shape of `gx`.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> gx, gy = np.array([[3.0]]), np.array([[-4.0]])
    >>> float(imgrad.magnitude(gx, gy)[0, 0]), float(imgrad.magnitude(gx, gy, norm="l1")[0, 0])
    (5.0, 7.0)
    """
    gx, gy = _check_pair(gx, gy, "magnitude")
    norm = NORM.check(norm, "magnitude")
    return _magnitude(gx, gy, norm, _out(out, gx, "magnitude"))


def phase(
    gx: np.ndarray,
    gy: np.ndarray,
    *,
    degrees: bool = False,
    convention: str = "image",
    wrap: str = "full",
    precise: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient direction.

    Parameters
    ----------
    gx, gy : ndarray
        Derivatives of the same shape, any supported dtype.
    degrees : bool
        Degrees instead of radians.
    convention : {"image", "math"}
        "image": ``atan2(gy, gx)`` with y pointing down, as ``cv2.phase``;
        "math": ``atan2(-gy, gx)`` with y pointing up, as MATLAB's ``imgradient``.
    wrap : {"full", "signed", "half"}
        Range: [0, 2pi), (-pi, pi] or [0, pi) (orientation, polarity ignored).
    precise : bool
        Use float64 ``arctan2`` (error < 1e-6 rad) instead of OpenCV's fast
        arctangent (error < 2e-4 rad).
    out : ndarray, optional
        Array to write the result into (the result's shape and dtype).

    Returns
    -------
    ndarray
        float32 (float64 if either input is float64). 0 where ``gx == gy == 0``.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> gx, gy = np.array([[0.0]]), np.array([[1.0]])   # gradient pointing down
    >>> float(imgrad.phase(gx, gy, degrees=True, precise=True)[0, 0])
    90.0
    >>> float(imgrad.phase(gx, gy, degrees=True, convention="math", precise=True)[0, 0])
    270.0
    >>> float(imgrad.phase(gx, gy, degrees=True, convention="math", wrap="signed",
    ...                    precise=True)[0, 0])
    -90.0
    """
    gx, gy = _check_pair(gx, gy, "phase")
    _check_angle_options("phase", degrees, convention, wrap, precise)
    return _phase(gx, gy, degrees, convention, wrap, precise, _out(out, gx, "phase"))


def polar(
    gx: np.ndarray,
    gy: np.ndarray,
    *,
    norm: str = "l2",
    degrees: bool = False,
    convention: str = "image",
    wrap: str = "full",
    precise: bool = False,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Polar:
    """Magnitude and phase together; equal to :func:`magnitude` and :func:`phase`.

    Parameters are those of :func:`magnitude` and :func:`phase`; `out` is a
    pair of arrays (magnitude, phase).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> m, p = imgrad.polar(np.array([[1.0]]), np.array([[1.0]]), degrees=True, precise=True)
    >>> float(m[0, 0]) ** 2, float(p[0, 0])
    (2.0000000000000004, 45.0)
    """
    gx, gy = _check_pair(gx, gy, "polar")
    norm = NORM.check(norm, "polar")
    _check_angle_options("polar", degrees, convention, wrap, precise)
    if out is not None and (not isinstance(out, (tuple, list)) or len(out) != 2):
        raise fail("out", "polar", "a tuple (magnitude, phase) of two arrays", out, TypeError)
    mag_out, phase_out = (None, None) if out is None else out
    return Polar(
        _magnitude(gx, gy, norm, _out(mag_out, gx, "polar")),
        _phase(gx, gy, degrees, convention, wrap, precise, _out(phase_out, gx, "polar")),
    )


def phase_range(*, degrees: bool = False, wrap: str = "full") -> tuple[float, float]:
    """The interval a phase plane lies in, ``(low, high)``, for display and scaling.

    Examples
    --------
    >>> phase_range(degrees=True, wrap="signed")
    (-180.0, 180.0)
    """
    period = 360.0 if degrees else 2 * np.pi
    if wrap == "signed":
        return (-period / 2, period / 2)
    return (0.0, period / 2 if wrap == "half" else period)


# --- kernels -----------------------------------------------------------------


def _check_pair(gx, gy, where):
    gx = check_image(gx, where=where, param="gx")
    gy = check_image(gy, where=where, param="gy")
    check_same_shape(gx, gy, names=("gx", "gy"), where=where)
    dtype = float_dtype(gx, gy)
    return (
        np.ascontiguousarray(gx, dtype=dtype),
        np.ascontiguousarray(gy, dtype=dtype),
    )


def _check_angle_options(where, degrees, convention, wrap, precise):
    DEGREES.check(degrees, where)
    CONVENTION.check(convention, where)
    WRAP.check(wrap, where)
    PRECISE.check(precise, where)


def _out(out, like, where):
    return None if out is None else check_out(out, like.shape, like.dtype, where=where)


def _magnitude(gx, gy, norm, out=None) -> np.ndarray:
    out = np.empty_like(gx) if out is None else out
    work = scratch(gy.shape, gy.dtype)
    if norm == "l2":
        # Each operation correctly rounded, no fused multiply-add: the same bits
        # whatever the memory layout. (cv2.magnitude's result depends on buffer
        # alignment, which would make tiled and whole-image results differ.)
        np.multiply(gx, gx, out=out)
        np.multiply(gy, gy, out=work)
        np.add(out, work, out=out)
        # cv2.sqrt is IEEE-exact (equal to np.sqrt bit for bit) and twice as fast.
        return deliver(cv2.sqrt(cv_view(out), dst=cv_view(out)).reshape(out.shape), out)
    np.absolute(gx, out=out)
    np.absolute(gy, out=work)
    return (np.add if norm == "l1" else np.maximum)(out, work, out=out)


def _phase(gx, gy, degrees, convention, wrap, precise, out=None) -> np.ndarray:
    period = 360.0 if degrees else 2 * np.pi
    if not precise:
        angle = np.empty_like(gx) if out is None else out
        opencv_angle(gx, gy, angle, degrees)
        return finish_angle(angle, degrees, convention, wrap)
    y = -gy.astype(np.float64) if convention == "math" else gy.astype(np.float64)
    angle = np.arctan2(y, gx)  # (-pi, pi]
    angle[(gx == 0) & (gy == 0)] = 0.0  # arctan2(-0., -0.) is -pi
    if degrees:
        angle = np.degrees(angle, out=angle)
    if wrap != "signed":
        angle[angle < 0] += period
    angle = angle.astype(gx.dtype)
    if wrap == "half":
        _rewrap(angle, period, "half")
    _fold(angle, period, wrap)
    if out is None:
        return angle
    np.copyto(out, angle)
    return out


def opencv_angle(
    gx: np.ndarray,
    gy: np.ndarray,
    angle: np.ndarray,
    degrees: bool,
    *,
    tiny: bool = True,
) -> None:
    """``cv2.phase`` into `angle`, with bits that do not depend on the arrays'
    size or layout.

    OpenCV's arctangent divides by ``|g| + DBL_EPSILON``, so its error grows
    past 2e-4 rad where both ``|gx|`` and ``|gy|`` are below ~1e-11, and it
    computes in float32, so float64 values past 3.4e38 become NaN. Such
    pixels (both below :data:`TINY` and not both zero, or one beyond
    :data:`HUGE`) get float64 ``arctan2``; ``tiny=False`` skips that pass
    for callers whose derivatives are known to lie between (integer images).

    OpenCV runs its arctangent on vectors of elements, then the last few
    elements one by one in scalar code that rounds some angles differently;
    so the same pixel could get other bits in a strip, a tile or the whole
    image. Here every element goes through the vector code: the bulk in
    multiples of ``LANES`` and the rest zero-padded to ``LANES``. All arrays
    are C-contiguous and of one shape and dtype.
    """
    flat = [p.reshape(1, -1) for p in (gx, gy, angle)]
    size = flat[0].shape[1]
    bulk = size - size % LANES
    if bulk:
        _opencv_angle(*(p[:, :bulk] for p in flat), degrees=degrees)
    if bulk < size:
        padded = [np.zeros((1, LANES), p.dtype) for p in flat]
        for source, target in zip(flat[:2], padded[:2], strict=True):
            target[:, : size - bulk] = source[:, bulk:]
        _opencv_angle(*padded, degrees=degrees)
        for source, target in zip(padded[2:], flat[2:], strict=True):
            target[:, bulk:] = source[:, : size - bulk]
    if tiny and gx.dtype.kind == "f":
        _precise_where_needed(flat[0], flat[1], flat[2], degrees)


#: Below this, in both |gx| and |gy|, the fast arctangent is replaced by arctan2.
TINY = 2.0**-32
#: Above this, in |gx| or |gy| of float64 planes, too: OpenCV computes in float32.
HUGE = 2.0**100
#: Elements checked at a time, so the masks stay in cache.
_CHUNK = 1 << 16


def _precise_where_needed(
    gx: np.ndarray, gy: np.ndarray, angle: np.ndarray, degrees: bool
) -> None:
    """OpenCV's angle in [0, period] recomputed with float64 ``arctan2`` where the
    gradient is tiny but not zero, or (float64) beyond float32's reach.
    `gx`, `gy`, `angle` are (1, N) views; the usual case costs one fast pass."""
    wide = gx.dtype == np.float64
    for start in range(0, gx.shape[1], _CHUNK):
        x, y = gx[:, start : start + _CHUNK], gy[:, start : start + _CHUNK]
        redo = cv2.inRange(x, -TINY, TINY)
        if cv2.countNonZero(redo):
            cv2.bitwise_and(redo, cv2.inRange(y, -TINY, TINY), dst=redo)
            # not both zero: there OpenCV's 0 is right
            nonzero = cv2.bitwise_or(cv2.compare(x, 0, cv2.CMP_NE), cv2.compare(y, 0, cv2.CMP_NE))
            cv2.bitwise_and(redo, nonzero, dst=redo)
        if wide:
            inside = cv2.bitwise_and(cv2.inRange(x, -HUGE, HUGE), cv2.inRange(y, -HUGE, HUGE))
            cv2.bitwise_or(redo, cv2.bitwise_not(inside), dst=redo)
        where = np.flatnonzero(redo)
        if where.size:
            wx, wy = x[0, where].astype(np.float64), y[0, where].astype(np.float64)
            exact = np.mod(np.arctan2(wy, wx), 2 * np.pi)
            angle[0, start + where] = np.degrees(exact) if degrees else exact


def _opencv_angle(x, y, angle, *, degrees):
    cv2.phase(x, y, angle=angle, angleInDegrees=bool(degrees))


def finish_angle(angle: np.ndarray, degrees: bool, convention: str, wrap: str) -> np.ndarray:
    """OpenCV's angle ``[0, period]`` (``cv2.phase``) to the
    asked convention and wrap, in place; returns `angle`."""
    period = 360.0 if degrees else 2 * np.pi
    if convention == "math":  # 0 becomes a full turn, folded back to 0 below
        # OpenCV computes in float32 and may return float32(2 pi) > 2 pi for float64
        # input; capped at the period, the difference can never be negative.
        view = cv_view(angle)
        cv2.threshold(view, float(angle.dtype.type(period)), 0, cv2.THRESH_TRUNC, dst=view)
        np.subtract(angle.dtype.type(period), angle, out=angle)
    if wrap != "full":
        _rewrap(angle, period, wrap)
    _fold(angle, period, wrap)
    return angle


def _rewrap(angle, period, wrap) -> None:
    """[0, period] to (-period/2, period/2] ("signed") or [0, period/2] ("half"), in place."""
    half = angle.dtype.type(period / 2)
    shift = scratch(angle.shape, angle.dtype)
    # shift = period (signed) or half (half) where the angle is past the middle
    if wrap == "signed":
        cv2.threshold(
            cv_view(angle), float(half), float(2 * half), cv2.THRESH_BINARY, dst=cv_view(shift)
        )
    else:
        below = float(np.nextafter(half, angle.dtype.type(0)))
        cv2.threshold(cv_view(angle), below, float(half), cv2.THRESH_BINARY, dst=cv_view(shift))
    np.subtract(angle, shift, out=angle)


def _fold(angle, period, wrap) -> None:
    """Fold rounding overshoots back into the half-open range, in place.

    A full turn minus a hair rounds to `period` itself in float32; it is the
    same direction as 0. "full": [0, period); "half": [0, period/2);
    "signed": (-period/2, period/2].
    """
    if wrap == "signed":
        period = angle.dtype.type(period)
        np.add(angle, period, out=angle, where=angle <= -period / 2)
        return
    below = _below(angle.dtype.char, period / 2 if wrap == "half" else period)
    # values above `below`, i.e. >= top, become 0 (one vectorised pass)
    view = cv_view(angle)
    cv2.threshold(view, below, 0, cv2.THRESH_TOZERO_INV, dst=view)


@functools.cache
def _below(dtype: str, top: float) -> float:
    """The largest value of `dtype` below `top` (rounded to `dtype`)."""
    kind = np.dtype(dtype).type
    return float(np.nextafter(kind(top), kind(0)))
