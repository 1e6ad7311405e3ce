"""First-derivative operators: Sobel, Scharr, Prewitt, central and intermediate
differences, Roberts and Farid.

Every operator is a few lines over one private kernel shared by its siblings:
a separable correlation with a derivative kernel along one axis and a smoothing
kernel along the other. They differ only in the named weight constants below.

Conventions (as OpenCV): ``gx`` is the derivative along x (columns, left to
right), ``gy`` along y (rows, top to bottom); kernels are applied by
correlation, so a ramp increasing to the right gives a positive ``gx``.

Kernel scale
------------
With ``normalize=False`` (the default) the kernels are the classic integer
ones, and values equal OpenCV's, SciPy's and MATLAB's. On a ramp of slope ``s``
a 3x3 Sobel then gives ``8 s``. ``normalize=True`` divides each kernel by that
gain, so every method gives ``s`` on such a ramp: a per-pixel derivative,
comparable across methods.

=============  =========================  ====================
method         gain on a ramp of slope s  normalized
=============  =========================  ====================
sobel ksize=3  8 s (OpenCV, SciPy, MATLAB;  s
               scikit-image: 2 s;
               Kornia: s)
sobel ksize=k  moment x 2**(k-1)          s
scharr         32 s                       s
prewitt        6 s                        s
central        s                          s
intermediate   s                          s
roberts        s along x (diagonals:      s for the magnitude
               sqrt(2) s along them)
farid          0.9918 s                   s
=============  =========================  ====================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import cv2
import numpy as np

from imgrad._border import BORDERS, cv_border, cv_view, filter_with_border
from imgrad._dtype import cv_depth, float_dtype
from imgrad._params import Bool, Choice, Float, Int
from imgrad._scratch import scratch
from imgrad._validation import check_choice, check_image, check_out, fail

__all__ = [
    "METHODS",
    "Gradient",
    "central",
    "farid",
    "gradient",
    "intermediate",
    "prewitt",
    "roberts",
    "scharr",
    "sobel",
]


class Gradient(NamedTuple):
    """The two first derivatives of an image.

    Attributes
    ----------
    gx : ndarray
        Derivative along x (columns), same shape as the image (or (H, W) with
        ``channels="max"``).
    gy : ndarray
        Derivative along y (rows, pointing down).
    """

    gx: np.ndarray
    gy: np.ndarray


# --- weights (correlation order: the first tap multiplies the left/top neighbour)
DIFF = np.array([-1.0, 0.0, 1.0])
CENTRAL_DIFF = np.array([-0.5, 0.0, 0.5])
INTERMEDIATE_DIFF = np.array([0.0, -1.0, 1.0])  # I[x+1] - I[x]
NO_SMOOTH = np.array([1.0])
PREWITT_SMOOTH = np.array([1.0, 1.0, 1.0])
SCHARR_SMOOTH = np.array([3.0, 10.0, 3.0])
# Farid & Simoncelli (2004) 5-tap kernels, as scikit-image's farid_h/farid_v.
FARID_SMOOTH = np.array(
    [
        0.0376593171958126,
        0.249153396177344,
        0.426374573253687,
        0.249153396177344,
        0.0376593171958126,
    ]
)
FARID_DIFF = np.array(
    [-0.109603762960254, -0.276690988455557, 0.0, 0.276690988455557, 0.109603762960254]
)
# Roberts cross, 3x3 embeddings centred on the output pixel (as scikit-image's
# roberts_pos_diag and roberts_neg_diag): I[r+1, c+1] - I[r, c] and I[r+1, c] - I[r, c+1].
ROBERTS_POS_DIAG = np.array([[0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
ROBERTS_NEG_DIAG = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# --- parameters, shared with the pipeline steps
KSIZE = Int(
    "ksize",
    "aperture: 1 (plain 3-tap difference) or an odd size 3..31, as cv2.Sobel",
    low=1,
    high=31,
    odd=True,
)
NORMALIZE = Bool("normalize", "divide the kernel by its gain so a ramp of slope s gives s")
BORDER = Choice("border", BORDERS, "how pixels outside the image are made up")
CVAL = Float("cval", "value outside the image with border=constant")
CHANNELS = Choice(
    "channels",
    ("separate", "max"),
    "separate: one derivative per channel; max: at each pixel the channel of strongest gradient",
)


def sobel(
    image: np.ndarray,
    ksize: int = 3,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Sobel derivatives, equal to ``cv2.Sobel``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64. Channels are processed separately.
    ksize : int
        1 (a 3-tap central difference, no smoothing) or odd 3..31.
    normalize : bool
        Divide the kernel by its gain (8 for ksize=3) so a ramp of slope s gives s.
    border : {"reflect101", "reflect", "replicate", "constant", "wrap"}
        Border mode ("reflect101" is OpenCV's default).
    cval : float
        Value outside the image with ``border="constant"``.
    channels : {"separate", "max"}
        "max" keeps, at each pixel, the derivatives of the channel whose
        gradient magnitude is largest (as colour Canny and HOG do).
    out : (ndarray, ndarray), optional
        Arrays to write gx and gy into, of the result's shape and dtype
        (C-contiguous); returned in the Gradient.

    Returns
    -------
    Gradient
        ``(gx, gy)``, float32 (float64 for float64 input), shape of `image`
        (or (H, W) with ``channels="max"``).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> ramp = np.tile(np.arange(6, dtype=np.uint8), (5, 1))
    >>> g = imgrad.sobel(ramp)
    >>> float(g.gx[2, 2]), float(g.gy[2, 2])
    (8.0, 0.0)
    """
    ksize = KSIZE.check(ksize, "sobel")
    if ksize == 3 and _spatial_gradient_applies(image, border):
        return _spatial_gradient(image, normalize, border, cval, channels, out)
    if ksize == 1:
        diff, smooth = DIFF, NO_SMOOTH
    else:
        kx, ky = cv2.getDerivKernels(1, 0, ksize, ktype=cv2.CV_64F)
        diff, smooth = kx.ravel(), ky.ravel()
    return _separable(image, diff, smooth, "sobel", normalize, border, cval, channels, out)


def scharr(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Scharr derivatives (3x3, weights 3-10-3), equal to ``cv2.Scharr``.

    Parameters and returns as :func:`sobel`, without `ksize`; the gain is 32.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> ramp = np.tile(np.arange(6, dtype=np.uint8), (5, 1))
    >>> float(imgrad.scharr(ramp).gx[2, 2]), float(imgrad.scharr(ramp, normalize=True).gx[2, 2])
    (32.0, 1.0)
    """
    return _separable(image, DIFF, SCHARR_SMOOTH, "scharr", normalize, border, cval, channels, out)


def prewitt(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Prewitt derivatives (3x3, box smoothing), equal to ``scipy.ndimage.prewitt``.

    Parameters and returns as :func:`sobel`, without `ksize`; the gain is 6.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> ramp = np.tile(np.arange(6, dtype=np.uint8), (5, 1))
    >>> float(imgrad.prewitt(ramp).gx[2, 2])
    6.0
    """
    return _separable(
        image, DIFF, PREWITT_SMOOTH, "prewitt", normalize, border, cval, channels, out
    )


def central(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Central differences ``(I[x+1] - I[x-1]) / 2``, as MATLAB's ``imgradientxy(I, 'central')``.

    In the interior the values equal MATLAB's and Octave's; at the image
    border they follow `border` (Octave pads with zeros: ``border="constant"``
    gives its values everywhere). The gain is 1, so `normalize` changes nothing.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> row = np.array([[0, 1, 4, 9, 16]], dtype=np.float64)
    >>> imgrad.central(row).gx[0, 1:4]
    array([2., 4., 6.])
    """
    return _separable(
        image, CENTRAL_DIFF, NO_SMOOTH, "central", normalize, border, cval, channels, out
    )


def intermediate(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Forward differences ``I[x+1] - I[x]``, as MATLAB's ``imgradientxy(I, 'intermediate')``.

    The last column (row) reads one pixel past the border, made up by
    `border`: ``border="replicate"`` gives 0 there, ``border="constant"``
    gives ``-I`` (Octave's zero padding).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> row = np.array([[0, 1, 4, 9, 16]], dtype=np.float64)
    >>> imgrad.intermediate(row, border="replicate").gx[0]
    array([1., 3., 5., 7., 0.])
    """
    return _separable(
        image, INTERMEDIATE_DIFF, NO_SMOOTH, "intermediate", normalize, border, cval, channels, out
    )


def farid(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Farid-Simoncelli 5x5 derivatives, as scikit-image's ``farid_v`` (gx) and ``farid_h`` (gy).

    Values equal scikit-image's on the same (unscaled) input; the gain is
    0.99180, so ``normalize=True`` changes values by under 1 %.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> ramp = np.tile(np.arange(8, dtype=np.float64), (7, 1))
    >>> round(float(imgrad.farid(ramp, normalize=True).gx[3, 3]), 12)
    1.0
    """
    return _separable(
        image, FARID_DIFF, FARID_SMOOTH, "farid", normalize, border, cval, channels, out
    )


def roberts(
    image: np.ndarray,
    *,
    normalize: bool = False,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Gradient:
    """Roberts cross: the two diagonal 2x2 differences.

    ``gx`` is scikit-image's ``roberts_pos_diag``, ``I[r+1, c+1] - I[r, c]``
    (along the down-right diagonal), and ``gy`` its ``roberts_neg_diag``,
    ``I[r+1, c] - I[r, c+1]`` (along the down-left diagonal). The magnitude is
    that of the gradient; a phase computed from these planes is measured from
    the down-right diagonal, i.e. 45 degrees off the other methods'.
    ``normalize=True`` divides by sqrt(2), the diagonal step, so the magnitude
    of a ramp of slope s is s.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> ramp = np.tile(np.arange(6, dtype=np.float64), (5, 1))
    >>> g = imgrad.roberts(ramp)
    >>> float(g.gx[2, 2]), float(g.gy[2, 2])
    (1.0, -1.0)
    """
    where = "roberts"
    image, dtype = _check_common(image, where, normalize, border, cval, channels)
    gx_out, gy_out = _check_outs(out, image, dtype, channels, where)
    gain = np.sqrt(2.0) if normalize else 1.0
    gx = _correlate(image, ROBERTS_POS_DIAG / gain, border, cval, dtype, gx_out)
    gy = _correlate(image, ROBERTS_NEG_DIAG / gain, border, cval, dtype, gy_out)
    return _select_channels(gx, gy, channels, out)


#: Derivative methods by name, for :func:`gradient` and the pipeline.
METHODS: dict[str, Callable[..., Gradient]] = {
    "sobel": sobel,
    "scharr": scharr,
    "prewitt": prewitt,
    "central": central,
    "intermediate": intermediate,
    "roberts": roberts,
    "farid": farid,
}


def gradient(image: np.ndarray, method: str = "sobel", **params: Any) -> Gradient:
    """Derivatives by method name: ``gradient(img, "scharr")`` is ``scharr(img)``.

    Parameters
    ----------
    image : ndarray
        As for :func:`sobel`.
    method : {"sobel", "scharr", "prewitt", "central", "intermediate", "roberts", "farid"}
    **params
        Keyword arguments of that method (``ksize`` for sobel only).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> img = np.eye(5, dtype=np.uint8) * 10
    >>> np.array_equal(imgrad.gradient(img, "prewitt").gx, imgrad.prewitt(img).gx)
    True
    """
    method = check_choice(method, tuple(METHODS), param="method", where="gradient")
    return METHODS[method](image, **params)


def gain(diff: np.ndarray, smooth: np.ndarray) -> float:
    """Response of a separable derivative kernel to a ramp of slope 1."""
    centre = (len(diff) - 1) / 2
    moment = float(np.dot(diff, np.arange(len(diff)) - centre))
    return moment * float(np.sum(smooth))


# --- the shared kernel -------------------------------------------------------


def _check_common(image, where, normalize, border, cval, channels):
    image = check_image(image, where=where)
    NORMALIZE.check(normalize, where)
    BORDER.check(border, where)
    CVAL.check(cval, where)
    CHANNELS.check(channels, where)
    return np.ascontiguousarray(image), float_dtype(image)


def _spatial_gradient_applies(image, border) -> bool:
    """The common case with a faster exact path: 3x3 Sobel of a one-channel uint8 image."""
    return (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1))
        and border in ("reflect101", "replicate")
    )


def _spatial_gradient(image, normalize, border, cval, channels, out) -> Gradient:
    """cv2.spatialGradient: both 3x3 Sobel derivatives in one pass, as exact int16
    (|value| <= 4 * 255), then converted to float32: equal to cv2.Sobel's float32."""
    image, dtype = _check_common(image, "sobel", normalize, border, cval, channels)
    shape = image.shape[:2] if channels == "max" else image.shape  # one channel: max is itself
    if out is None:
        out = (np.empty(shape, dtype), np.empty(shape, dtype))
    elif not isinstance(out, (tuple, list)) or len(out) != 2:
        raise fail("out", "sobel", "a tuple (gx, gy) of two arrays", out, TypeError)
    for plane in out:
        check_out(plane, shape, dtype, where="sobel")
    plane = cv_view(image)
    dx, dy = scratch(plane.shape, np.int16, 0), scratch(plane.shape, np.int16, 1)
    cv2.spatialGradient(plane, dx=dx, dy=dy, borderType=cv_border(border))
    for deriv, target in zip((dx, dy), out, strict=True):
        np.copyto(cv_view(target), deriv)
        if normalize:  # the gain is 8: a power of two, so exact
            np.multiply(target, dtype.type(0.125), out=target)
    return Gradient(*out)


def _check_outs(out, image, dtype, channels, where):
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
    return out


def _separable(image, diff, smooth, where, normalize, border, cval, channels, out) -> Gradient:
    image, dtype = _check_common(image, where, normalize, border, cval, channels)
    gx_out, gy_out = _check_outs(out, image, dtype, channels, where)
    if normalize:
        g = gain(diff, smooth)
        # Split the gain between the two kernels so powers of two stay exact.
        diff = diff / (g / np.sum(smooth))
        smooth = smooth / np.sum(smooth)
    radius = max(len(diff), len(smooth)) // 2
    gx = _sep_filter(image, diff, smooth, radius, border, cval, dtype, gx_out)
    gy = _sep_filter(image, smooth, diff, radius, border, cval, dtype, gy_out)
    return _select_channels(gx, gy, channels, out)


def _sep_filter(image, kernel_x, kernel_y, radius, border, cval, dtype, out) -> np.ndarray:
    depth = cv_depth(dtype)

    def apply(img, cv_border, dst):
        return cv2.sepFilter2D(img, depth, kernel_x, kernel_y, dst=dst, borderType=cv_border)

    return filter_with_border(apply, image, radius, border, cval, dtype, out)


def _correlate(image, kernel, border, cval, dtype, out) -> np.ndarray:
    depth = cv_depth(dtype)

    def apply(img, cv_border, dst):
        return cv2.filter2D(img, depth, kernel, dst=dst, borderType=cv_border)

    return filter_with_border(apply, image, kernel.shape[0] // 2, border, cval, dtype, out)


def _select_channels(gx, gy, channels, out) -> Gradient:
    if channels == "separate" or gx.ndim == 2:
        return Gradient(gx, gy)
    return Gradient(*strongest_channel(gx, gy, out=out))


def strongest_channel(
    gx: np.ndarray, gy: np.ndarray, *, out: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """At each pixel, the (gx, gy) of the channel with the largest gx² + gy².

    Ties go to the first channel. Returns two (H, W) planes (`out` if given).
    """
    energy = gx * gx
    energy += gy * gy
    index = energy.argmax(axis=2)[..., np.newaxis]
    best = (
        np.take_along_axis(gx, index, axis=2)[..., 0],
        np.take_along_axis(gy, index, axis=2)[..., 0],
    )
    if out is None:
        return best
    np.copyto(out[0], best[0])
    np.copyto(out[1], best[1])
    return out
