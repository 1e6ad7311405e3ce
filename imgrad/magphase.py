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

from typing import NamedTuple

import cv2
import numpy as np

from imgrad._dtype import float_dtype
from imgrad._params import Bool, Choice
from imgrad._validation import check_image, check_same_shape

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
PRECISE = Bool("precise", "exact float64 arctan2 instead of OpenCV's fast one (error 2e-4 rad)")


class Polar(NamedTuple):
    """Gradient magnitude and phase planes."""

    magnitude: np.ndarray
    phase: np.ndarray


def magnitude(gx: np.ndarray, gy: np.ndarray, *, norm: str = "l2") -> np.ndarray:
    """Gradient magnitude.

    Parameters
    ----------
    gx, gy : ndarray
        Derivatives of the same shape, (H, W) or (H, W, C), any supported dtype.
    norm : {"l2", "l1", "max"}
        ``sqrt(gx² + gy²)``, ``|gx| + |gy|`` or ``max(|gx|, |gy|)``. Each
        operation is rounded in the output type, so the bits never depend on
        memory layout or tiling.

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
    return _magnitude(gx, gy, norm)


def phase(
    gx: np.ndarray,
    gy: np.ndarray,
    *,
    degrees: bool = False,
    convention: str = "image",
    wrap: str = "full",
    precise: bool = False,
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
    return _phase(gx, gy, degrees, convention, wrap, precise)


def polar(
    gx: np.ndarray,
    gy: np.ndarray,
    *,
    norm: str = "l2",
    degrees: bool = False,
    convention: str = "image",
    wrap: str = "full",
    precise: bool = False,
) -> Polar:
    """Magnitude and phase together; equal to :func:`magnitude` and :func:`phase`.

    Parameters are those of :func:`magnitude` and :func:`phase`.

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
    return Polar(_magnitude(gx, gy, norm), _phase(gx, gy, degrees, convention, wrap, precise))


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


def _magnitude(gx: np.ndarray, gy: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l2":
        # Each operation correctly rounded, no fused multiply-add: the same bits
        # whatever the memory layout. (cv2.magnitude's result depends on buffer
        # alignment, which would make tiled and whole-image results differ.)
        out = np.multiply(gx, gx)
        out += np.multiply(gy, gy)
        return np.sqrt(out, out=out)
    ax, ay = np.abs(gx), np.abs(gy)
    if norm == "l1":
        return np.add(ax, ay, out=ax)
    return np.maximum(ax, ay, out=ax)


def _phase(gx, gy, degrees, convention, wrap, precise) -> np.ndarray:
    if not precise:
        angle = cv2.phase(gx, gy, angleInDegrees=bool(degrees)).reshape(gx.shape)
        return _apply_conventions(angle, degrees, convention, wrap)
    y = -gy.astype(np.float64) if convention == "math" else gy.astype(np.float64)
    angle = np.arctan2(y, gx)  # (-pi, pi]
    angle[(gx == 0) & (gy == 0)] = 0.0  # arctan2(-0., -0.) is -pi
    if degrees:
        angle = np.degrees(angle, out=angle)
    period = 360.0 if degrees else 2 * np.pi
    if wrap != "signed":
        angle[angle < 0] += period
    angle = angle.astype(gx.dtype)
    return _wrap_rounding(angle, period, wrap)


def _apply_conventions(angle, degrees, convention, wrap) -> np.ndarray:
    """Map OpenCV's [0, period] image-convention angle to the requested one, in place."""
    period = angle.dtype.type(360.0 if degrees else 2 * np.pi)
    if convention == "math":
        np.subtract(period, angle, out=angle, where=angle > 0)
    if wrap == "signed":
        angle[angle > period / 2] -= period
    return _wrap_rounding(angle, period, wrap)


def _wrap_rounding(angle, period, wrap) -> np.ndarray:
    """Fold rounding overshoots back into the half-open range, in place.

    [0, period] becomes [0, period) ([0, period/2) for "half"); for "signed",
    [-period/2, period/2] becomes (-period/2, period/2]. A full turn minus a
    hair rounds to `period` itself in float32; it is the same direction as 0.
    """
    period = angle.dtype.type(period)
    if wrap == "signed":
        angle[angle <= -period / 2] += period
        return angle
    top = period / 2 if wrap == "half" else period
    if wrap == "half":
        angle[angle >= top] -= top
    angle[angle >= top] = 0
    return angle
