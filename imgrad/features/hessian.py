"""The Hessian at a scale: second derivatives of the image smoothed by a Gaussian.

As scikit-image's ``hessian_matrix(..., use_gaussian_derivatives=True)``, each
second derivative is two first-derivative-of-Gaussian passes of scale
``sigma / sqrt(2)`` (together a Gaussian of scale ``sigma``), which makes the
second-derivative kernels sum to zero exactly (SciPy's sampled ``order=2``
kernel does not: its sum is about -7e-5 at sigma 1). Axes are (row, column),
``r`` pointing down, ``c`` right: ``Hrr`` is d²/dy², ``Hcc`` is d²/dx².

Mapping to scikit-image (0.22 to 0.26 compute it the same way)::

    hessian(image, sigma, border=b, truncate=t)
    == hessian_matrix(image, sigma, mode=m, cval=cval, order="rc",
                      use_gaussian_derivatives=True) * scale

with `m` SciPy's name of `b` (reflect101 = "mirror", reflect = "reflect",
replicate = "nearest", constant = "constant", wrap = "wrap"; scikit-image's
default is "constant"), ``scale`` 255 for uint8 and 65535 for uint16 input
(scikit-image works on ``img_as_float(image)``), and `t` scikit-image's fixed
choice: 8 if sigma > 1, else 100 — the default ``truncate=None`` makes the
same choice. Its eigenvalues are ``hessian_matrix_eigvals`` (``l1 >= l2``).
With ``border="constant"`` and a non-zero `cval` the image is surrounded by
`cval` and the first derivatives by 0 (their value there), so a flat image
gives exactly 0; SciPy pads every one-dimensional pass with `cval` again, so
values near the edges then differ from scikit-image's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from imgrad._params import OptionalFloat
from imgrad.features.scale import (
    SIGMA,
    _check_scale,
    check_radius,
    derivative_x,
    derivative_y,
    gaussian_kernel,
    working_kernel,
)
from imgrad.features.structure import symmetric_eigenvalues

__all__ = ["Hessian", "hessian", "hessian_radius"]

TRUNCATE = OptionalFloat(
    "truncate",
    "radius of each first-derivative pass in its standard deviations (sigma/sqrt 2); "
    "none: as scikit-image, 8 if sigma > 1 else 100",
    low=0.0,
    strict=True,
)


class Hessian(NamedTuple):
    """Second derivatives and the Hessian's eigenvalues (``l1 >= l2``)."""

    Hrr: np.ndarray
    Hrc: np.ndarray
    Hcc: np.ndarray
    l1: np.ndarray
    l2: np.ndarray


def hessian_radius(sigma: float, truncate: float | None = None) -> int:
    """Pixels a tile needs around it for :func:`hessian`: twice one pass's kernel radius,
    not counting taps that are zero in float64.

    Examples
    --------
    >>> hessian_radius(2.0), hessian_radius(2.0, 4.0), hessian_radius(1.0)
    (22, 12, 54)
    """
    scaled, truncate = sigma / math.sqrt(2), _truncate(sigma, truncate)
    radius = int(truncate * scaled + 0.5)
    return 2 * (len(working_kernel(gaussian_kernel(scaled, 1, radius), np.float64)) // 2)


def hessian(
    image: np.ndarray,
    sigma: float = 1.0,
    *,
    truncate: float | None = None,
    border: str = "reflect101",
    cval: float = 0.0,
) -> Hessian:
    """Hessian matrix of the image at scale `sigma`, and its eigenvalues.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64. Channels are processed separately.
    sigma : float
        Scale in pixels, > 0 (scikit-image's `sigma`).
    truncate : float, optional
        Radius of each of the two first-derivative passes, in their standard
        deviation ``sigma / sqrt(2)``. By default scikit-image's: 8 for
        sigma > 1, else 100 (taps that are zero in the working precision are
        skipped, so 100 costs little more than 8 and changes values by < 1e-13).
    border : {"reflect101", "reflect", "replicate", "constant", "wrap"}
        Border mode of each pass.
    cval : float
        Value outside the image with ``border="constant"``.

    Returns
    -------
    Hessian
        ``(Hrr, Hrc, Hcc, l1, l2)``, float32 (float64 for float64 input), shape
        of `image`. The eigenvalues satisfy ``l1 >= l2``.

    Examples
    --------
    >>> import numpy as np, imgrad.features as F
    >>> y, x = np.mgrid[:32, :32].astype(np.float64)
    >>> h = F.hessian(x**2 + 3 * y**2, 2.0)   # Hcc = 2, Hrr = 6
    >>> [round(float(p[16, 16]), 6) for p in h]
    [6.0, 0.0, 2.0, 6.0, 2.0]
    """
    where = "hessian"
    truncate = TRUNCATE.check(truncate, where)
    sigma = SIGMA.check(sigma, where)
    truncate = _truncate(sigma, truncate)
    image, dtype, _ = _check_scale(image, where, sigma / math.sqrt(2), truncate, border, cval)
    radius = check_radius(sigma / math.sqrt(2), truncate, where)
    smooth = gaussian_kernel(sigma / math.sqrt(2), 0, radius)
    diff = gaussian_kernel(sigma / math.sqrt(2), 1, radius)

    def along_y(img, value):
        return derivative_y(img, smooth, diff, border, value, dtype)

    def along_x(img, value):
        return derivative_x(img, diff, smooth, border, value, dtype)

    gy, gx = along_y(image, cval), along_x(image, cval)
    # A constant surround has no gradient: the second pass pads with 0 (SciPy pads
    # every pass with cval; the two agree for scikit-image's default cval=0).
    hrr, hrc, hcc = along_y(gy, 0.0), along_x(gy, 0.0), along_x(gx, 0.0)
    del gx, gy
    l1, l2 = symmetric_eigenvalues(hrr, hrc, hcc)
    return Hessian(hrr, hrc, hcc, l1, l2)


def _truncate(sigma: float, truncate: float | None) -> float:
    if truncate is not None:
        return truncate
    return 8.0 if sigma > 1 else 100.0
