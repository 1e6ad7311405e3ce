"""Derivatives at a scale: sampled derivative-of-Gaussian kernels.

:func:`gaussian_gradient` is a sibling of :func:`imgrad.sobel`: the same
separable correlation, with the kernels of ``scipy.ndimage.gaussian_filter``
(``order=(0, 1)`` gives ``gx``, ``order=(1, 0)`` gives ``gy``), built here
the way SciPy builds them, so SciPy is not needed at run time.

Kernels
-------
The radius is ``int(truncate * sigma + 0.5)`` pixels, as SciPy's. The
smoothing kernel is ``exp(-x² / 2 sigma²)`` divided by its sum; the
derivative kernel is ``x / sigma²`` times it (in correlation order, so a
ramp increasing to the right gives a positive ``gx``). Taps that are exactly
zero in the working precision (far tails of large `truncate` values) are
dropped: they change no result.

Flat regions
------------
Wherever the image is constant over a kernel's support, both derivatives are
exactly 0, for every dtype and border. A derivative kernel sums to zero, but
a float sum of its taps times a constant generally does not. So the
derivative is never formed as such a sum: along y, OpenCV's column filter
evaluates an antisymmetric kernel as ``sum_k w_k (I[y+k] - I[y-k])``, and
along x the image is first differenced, ``D = I[x+1] - I[x-1]``, then
filtered with the kernel ``h`` for which ``w = h * [-1, 0, 1]`` (exact
identity; ``h`` is symmetric and one tap shorter on each side).

Precision
---------
float32 results come from OpenCV's float32 filters (float32 kernel taps,
float32 accumulation) and are within a few units in the last place of the
sum of absolute terms (``|w| * |I|``, see the tests for the bound checked);
float64 results from its float64 filters are within 1e-12 of it relative to
that sum (in practice about 1e-15).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from imgrad._border import BORDERS, cv_view, deliver, filter_with_border
from imgrad._dtype import cv_depth, float_dtype
from imgrad._params import Bool, Choice, Float
from imgrad._validation import check_image, check_out, fail
from imgrad.derivatives import Gradient, gain, strongest_channel

__all__ = [
    "MAX_RADIUS",
    "gaussian_gradient",
    "gaussian_kernel",
    "gaussian_radius",
]

#: Largest kernel radius accepted, in pixels (a kernel of 2 * 16384 + 1 taps).
MAX_RADIUS = 2**14

# --- parameters, shared with the pipeline steps
SIGMA = Float("sigma", "standard deviation of the Gaussian in pixels", low=0.0, strict=True)
TRUNCATE = Float(
    "truncate",
    "kernel radius in standard deviations: int(truncate*sigma + 0.5) px, as scipy.ndimage",
    low=0.0,
    strict=True,
)
NORMALIZE = Bool("normalize", "divide the kernel by its gain so a ramp of slope s gives s")
BORDER = Choice("border", BORDERS, "how pixels outside the image are made up")
CVAL = Float("cval", "value outside the image with border=constant")
CHANNELS = Choice(
    "channels",
    ("separate", "max"),
    "separate: one derivative per channel; max: at each pixel the channel of strongest gradient",
)

#: Images smaller than this (pixels x channels) are not worth a second thread.
_PARALLEL_MIN = 1 << 16


def gaussian_radius(sigma: float, truncate: float = 4.0) -> int:
    """Radius in pixels of the Gaussian kernels: ``int(truncate * sigma + 0.5)``, as SciPy.

    This is the halo a tile needs for :func:`gaussian_gradient`.

    Examples
    --------
    >>> gaussian_radius(2.0), gaussian_radius(1.0, truncate=3.0), gaussian_radius(0.1)
    (8, 3, 0)
    """
    return int(truncate * sigma + 0.5)


def gaussian_kernel(sigma: float, order: int = 0, radius: int | None = None) -> np.ndarray:
    """1-D sampled Gaussian (``order=0``) or its derivative, in correlation order, float64.

    Equal bit for bit to the weights ``scipy.ndimage.gaussian_filter1d`` correlates with
    (``_gaussian_kernel1d(sigma, order, radius)[::-1]``).

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    order : int
        Derivative order, 0 or more.
    radius : int, optional
        Half-width; default ``gaussian_radius(sigma)``.

    Examples
    --------
    >>> k = gaussian_kernel(1.0, order=1, radius=2)
    >>> k.round(4)
    array([-0.109 , -0.2442,  0.    ,  0.2442,  0.109 ])
    >>> round(float(gaussian_kernel(1.0, radius=3).sum()), 15)
    1.0
    """
    if radius is None:
        radius = gaussian_radius(sigma)
    x = np.arange(-radius, radius + 1)
    sigma2 = sigma * sigma
    if radius == 0 or sigma2 == 0:
        phi_x = (x == 0).astype(np.float64)
    else:
        phi_x = np.exp(-0.5 / sigma2 * x**2)
        phi_x = phi_x / phi_x.sum()
    if order == 0:
        return phi_x
    # SciPy's recurrence: f = q(x) phi(x); each derivative maps q to q' + q p',
    # p'(x) = -x / sigma² (as a matrix on the coefficients of q).
    exponent_range = np.arange(order + 1)
    q = np.zeros(order + 1)
    q[0] = 1
    d = np.diag(exponent_range[1:], 1)
    p = np.diag(np.ones(order) / -sigma2, -1) if sigma2 else np.zeros((order + 1,) * 2)
    for _ in range(order):
        q = (d + p).dot(q)
    q = (x[:, None] ** exponent_range).dot(q)
    return (q * phi_x)[::-1]


def gaussian_gradient(
    image: np.ndarray,
    sigma: float = 1.0,
    *,
    truncate: float = 4.0,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Derivatives of the image smoothed by a Gaussian: derivative-of-Gaussian kernels.

    ``gx`` equals ``scipy.ndimage.gaussian_filter(image, sigma, order=(0, 1),
    truncate=truncate, mode=m)`` and ``gy`` the same with ``order=(1, 0)``,
    where `m` is SciPy's name of `border`: reflect101 = "mirror",
    reflect = "reflect", replicate = "nearest", constant = "constant",
    wrap = "wrap". (With ``border="constant"`` and a non-zero `cval`, SciPy
    pads each one-dimensional pass again with `cval`; here the image is
    surrounded by `cval` once, so values within the radius of the left and
    right edges differ from SciPy's ``gy``.)

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64. Channels are processed separately.
    sigma : float
        Standard deviation in pixels, > 0; the kernel radius
        ``int(truncate * sigma + 0.5)`` must be at most ``MAX_RADIUS`` (16384).
    truncate : float
        Kernel radius in standard deviations (SciPy's `truncate`).
    normalize : bool
        Divide the derivative kernel by its gain, so a ramp of slope s gives
        exactly s. Without it the gain is ``sum(x² phi(x)) / sigma²``: 0.99965
        at sigma 2 and 0.99993 at sigma 1 with ``truncate=4`` (the cut tails),
        1 - 2e-7 with ``truncate=8``, and 0.86 at sigma 0.5 (sampling).
    border : {"reflect101", "reflect", "replicate", "constant", "wrap"}
        Border mode.
    cval : float
        Value outside the image with ``border="constant"``.
    channels : {"separate", "max"}
        "max" keeps, at each pixel, the derivatives of the channel whose
        gradient magnitude is largest.
    out : (ndarray, ndarray), optional
        Arrays to write gx and gy into, of the result's shape and dtype
        (C-contiguous); returned in the Gradient.

    Returns
    -------
    Gradient
        ``(gx, gy)``, float32 (float64 for float64 input), shape of `image`
        (or (H, W) with ``channels="max"``). Exactly 0 where the image is
        constant over the kernel.

    Examples
    --------
    >>> import numpy as np, imgrad.features as F
    >>> ramp = np.tile(np.arange(32, dtype=np.float64) * 3, (9, 1))
    >>> g = F.gaussian_gradient(ramp, 2.0)
    >>> round(float(g.gx[4, 16]), 5), float(g.gy[4, 16])
    (2.99896, 0.0)
    >>> round(float(F.gaussian_gradient(ramp, 2.0, normalize=True).gx[4, 16]), 12)
    3.0
    >>> flat = np.full((9, 9), 0.7, np.float32)
    >>> bool(np.all(F.gaussian_gradient(flat, 1.5).gx == 0))
    True
    """
    where = "gaussian_gradient"
    image, dtype, radius = _check_scale(image, where, sigma, truncate, border, cval)
    NORMALIZE.check(normalize, where)
    channels = CHANNELS.check(channels, where)
    gx_out, gy_out = _check_pair_out(out, image, dtype, channels, where)
    smooth = gaussian_kernel(sigma, 0, radius)
    diff = gaussian_kernel(sigma, 1, radius)
    if normalize:
        diff = diff / gain(diff, smooth)
    # One after the other: OpenCV spreads each filter over its threads itself.
    gx = derivative_x(image, diff, smooth, border, cval, dtype, gx_out)
    gy = derivative_y(image, smooth, diff, border, cval, dtype, gy_out)
    if channels == "separate" or gx.ndim == 2:
        return Gradient(gx, gy)
    return Gradient(*strongest_channel(gx, gy, out=out))


# --- shared by the features built on gradients at a scale -----------------------------


def _check_scale(image, where, sigma, truncate, border, cval, sigma_param=SIGMA):
    """Check the common arguments; return the contiguous image, its float type and the
    kernel radius."""
    image = np.ascontiguousarray(check_image(image, where=where))
    sigma = sigma_param.check(sigma, where)
    truncate = TRUNCATE.check(truncate, where)
    BORDER.check(border, where)
    CVAL.check(cval, where)
    radius = check_radius(sigma, truncate, where, sigma_param.name)
    return image, float_dtype(image), radius


def check_radius(sigma: float, truncate: float, where: str, param: str = "sigma") -> int:
    """The kernel radius for `sigma`, or the standard error if it exceeds MAX_RADIUS."""
    radius = gaussian_radius(sigma, truncate)
    if radius > MAX_RADIUS:
        raise fail(
            param,
            where,
            f"a number > 0 whose kernel radius int(truncate * {param} + 0.5) is at most "
            f"{MAX_RADIUS} px (truncate={truncate:g} gives {radius})",
            sigma,
        )
    return radius


def _check_pair_out(out, image, dtype, channels, where):
    """Output buffers for the per-channel planes (None: allocate)."""
    if out is None:
        return None, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise fail("out", where, "a tuple (gx, gy) of two arrays", out, TypeError)
    shape = image.shape[:2] if channels == "max" else image.shape
    for plane in out:
        check_out(plane, shape, dtype, where=where)
    if channels == "max" and image.ndim == 3:
        return None, None  # the per-channel planes are temporaries
    return tuple(out)


def working_kernel(kernel: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`kernel` in the working precision, without the outer taps that are zero there
    (they change no sum), and symmetric or antisymmetric still."""
    kernel = kernel.astype(dtype)
    nonzero = np.flatnonzero(kernel)
    if len(nonzero) == 0:
        return kernel[len(kernel) // 2 : len(kernel) // 2 + 1]
    trim = min(nonzero[0], len(kernel) - 1 - nonzero[-1])
    return kernel[trim : len(kernel) - trim]


def derivative_y(image, smooth, diff, border, cval, dtype, out=None) -> np.ndarray:
    """Correlate with `smooth` along x and the antisymmetric `diff` along y.

    OpenCV's column filter evaluates an antisymmetric kernel on differences of
    pixel pairs, so a constant column gives exactly 0.
    """
    kx, ky = working_kernel(smooth, dtype), working_kernel(diff, dtype)
    radius = max(len(kx), len(ky)) // 2
    depth = cv_depth(dtype)

    def apply(img, cv_border, dst):
        return cv2.sepFilter2D(img, depth, kx, ky, dst=dst, borderType=cv_border)

    return filter_with_border(apply, image, radius, border, cval, dtype, out)


def derivative_x(image, diff, smooth, border, cval, dtype, out=None) -> np.ndarray:
    """Correlate with the antisymmetric `diff` along x and `smooth` along y.

    Computed as ``h`` along x (with ``diff = h * [-1, 0, 1]``) applied to the
    central difference ``I[x+1] - I[x-1]``, so a constant row gives exactly 0.
    """
    diff, ky = working_kernel(diff, np.float64), working_kernel(smooth, dtype)
    h = difference_factor(diff).astype(dtype)
    radius = max(len(diff), len(ky)) // 2
    depth = cv_depth(dtype)

    def apply(img, cv_border, dst):
        return _differenced(cv_view(img), h, ky, cv_border, depth, dtype, dst)

    return filter_with_border(apply, image, radius, border, cval, dtype, out)


def difference_factor(diff: np.ndarray) -> np.ndarray:
    """The symmetric kernel ``h`` with ``diff[k] = h[k-1] - h[k+1]`` (correlation order),
    for an antisymmetric `diff` of odd length 2r+1; ``h`` has length 2r-1.

    Examples
    --------
    >>> difference_factor(np.array([-1.0, -2.0, 0.0, 2.0, 1.0]))
    array([1., 2., 1.])
    """
    r = len(diff) // 2
    if r == 0:
        return np.zeros(0)
    half = np.zeros(r + 1)  # half[j] = h[j] for j = 0..r (h[r] = 0)
    for k in range(r, 0, -1):
        half[k - 1] = diff[r + k] + (half[k + 1] if k + 1 <= r else 0.0)
    return np.concatenate([half[r - 1 : 0 : -1], half[:r]])


def _differenced(img, h, ky, cv_border, depth, dtype, dst):
    """``h`` along x applied to ``I[x+1] - I[x-1]`` smoothed by `ky` along y (border
    `cv_border`)."""
    r = len(h) // 2 + 1  # radius of the derivative kernel
    if len(h) == 0:  # a derivative kernel of zeros
        result = np.zeros(img.shape, dtype) if dst is None else dst
        result.fill(0)
        return result
    width = img.shape[1]
    if width <= 6 * r:
        return deliver(_differenced_padded(img, h, ky, cv_border, depth, dtype), dst)
    # Two OpenCV passes: the 3-tap difference (exact: one rounding of a - b) with the
    # smoothing along y, then h along x. The second pass extends the smoothed
    # difference at the left and right edges as if it were the image, which it is
    # not: the r outermost columns are recomputed from padded strips.
    smoothed = cv2.sepFilter2D(img, depth, _DIFF3[depth], ky, borderType=cv_border)
    result = cv2.sepFilter2D(smoothed, depth, h, _ONE[depth], dst=dst, borderType=cv_border)
    del smoothed
    strip = 3 * r
    left = _differenced_padded(img[:, :strip], h, ky, cv_border, depth, dtype)
    right = _differenced_padded(img[:, width - strip :], h, ky, cv_border, depth, dtype)
    result[:, :r] = left[:, :r]
    result[:, width - r :] = right[:, strip - r :]
    return result


def _differenced_padded(img, h, ky, cv_border, depth, dtype):
    """As :func:`_differenced`, exact in every column: the image is padded along x first."""
    r = len(h) // 2 + 1
    width = img.shape[1]
    padded = cv2.copyMakeBorder(img, 0, 0, r, r, cv_border)
    smoothed = cv2.sepFilter2D(padded, depth, _DIFF3[depth], ky, borderType=cv_border)
    filtered = cv2.sepFilter2D(smoothed, depth, h, _ONE[depth], borderType=cv_border)
    return filtered[:, r : r + width]


_DIFF3 = {
    d: np.array([-1.0, 0.0, 1.0], t)
    for d, t in ((cv2.CV_32F, np.float32), (cv2.CV_64F, np.float64))
}
_ONE = {d: np.ones(1, t) for d, t in ((cv2.CV_32F, np.float32), (cv2.CV_64F, np.float64))}


# --- threads --------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pools: list[ThreadPoolExecutor] = []


def concurrently(image: np.ndarray, *calls: Callable[[], Any]) -> list[Any]:
    """Results of `calls`, run on two threads when the image is large enough and
    OpenCV may use more than one (``cv2.setNumThreads(1)`` keeps everything in the
    calling thread, as the batch runner does). For NumPy work: OpenCV's filters
    already spread themselves over its threads."""
    if len(calls) < 2 or image.size < _PARALLEL_MIN or cv2.getNumThreads() < 2:
        return [call() for call in calls]
    with _pool_lock:
        if not _pools:
            _pools.append(ThreadPoolExecutor(1, thread_name_prefix="imgrad-features"))
        pool = _pools[0]
    helper = pool.submit(_run_all, calls[1::2])
    try:
        mine = _run_all(calls[::2])
    finally:
        theirs = helper.result()
    results = [None] * len(calls)
    results[::2], results[1::2] = mine, theirs
    return results


def _run_all(calls):
    return [call() for call in calls]
