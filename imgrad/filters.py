"""Pre-processing before differentiation: grey conversion and Gaussian smoothing."""

from __future__ import annotations

import math

import cv2
import numpy as np

from imgrad._border import BORDERS, deliver, filter_with_border
from imgrad._dtype import float_dtype
from imgrad._params import Choice, Float, OptionalInt
from imgrad._validation import check_image, check_out

__all__ = ["LUMA_WEIGHTS", "gaussian", "gaussian_ksize", "gray"]

#: ITU-R BT.601 luma weights for R, G, B (as OpenCV, Pillow and JPEG).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

SIGMA = Float("sigma", "standard deviation in pixels", low=0.0, strict=True)
KSIZE = OptionalInt(
    "ksize", "odd kernel size; default 2*ceil(4*sigma)+1 (support ceil(4 sigma))", low=1, odd=True
)
BORDER = Choice("border", BORDERS, "how pixels outside the image are made up")
CVAL = Float("cval", "value outside the image with border=constant")


def gray(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB or RGBA image; alpha is dropped.

    Parameters
    ----------
    image : ndarray
        (H, W) is returned unchanged (the same object); (H, W, 1) and
        gray+alpha (H, W, 2) give their first channel; (H, W, 3) RGB and
        (H, W, 4) RGBA give ``0.299 R + 0.587 G + 0.114 B``, rounded to the
        nearest level for integer dtypes (uint8 through OpenCV's fixed-point
        ``cvtColor``, which may round the other way within 0.003 of a tie).
    out : ndarray, optional
        (H, W) array of the input's dtype to write the result into.

    Returns
    -------
    ndarray
        (H, W), same dtype as `image`.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> rgb = np.zeros((2, 2, 3), np.uint8); rgb[..., 0] = 100
    >>> imgrad.gray(rgb)
    array([[30, 30],
           [30, 30]], dtype=uint8)
    """
    image = check_image(image, where="gray")
    if out is not None:
        check_out(out, image.shape[:2], image.dtype, where="gray")
    if image.ndim == 2 and out is None:
        return image
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels in (1, 2):
        first = image if image.ndim == 2 else image[..., 0]
        if out is None:
            return first.copy()
        np.copyto(out, first)
        return out
    if channels not in (3, 4):
        raise ValueError(
            "The 'image' parameter of gray must have 1 (gray), 2 (gray+alpha), 3 (RGB) or "
            f"4 (RGBA) channels. Got {channels} channels instead."
        )
    rgb = np.ascontiguousarray(image[..., :3])
    if rgb.dtype in (np.uint8, np.float32):
        # OpenCV's 14-bit fixed-point weights round to the nearest level except
        # within 0.003 of a tie for uint8: fast and all but exact.
        return deliver(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY, dst=out), out)
    # uint16 needs more precise weights than cvtColor's; float64 has no cvtColor path.
    luma = cv2.transform(rgb, np.array([LUMA_WEIGHTS]), dst=out)
    return deliver(luma.reshape(rgb.shape[:2]), out)


def gaussian_ksize(sigma: float, ksize: int | None = None) -> int:
    """Kernel size used for `sigma`: `ksize` if given, else 2*ceil(4 sigma) + 1.

    Examples
    --------
    >>> gaussian_ksize(1.5)
    13
    """
    return ksize if ksize is not None else 2 * math.ceil(4 * sigma) + 1


def gaussian(
    image: np.ndarray,
    sigma: float = 1.0,
    *,
    ksize: int | None = None,
    border: str = "reflect101",
    cval: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian smoothing, computed in floating point so nothing is rounded.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    sigma : float
        Standard deviation in pixels, > 0.
    ksize : int, optional
        Odd kernel size; by default the support is ``ceil(4 sigma)`` pixels on
        each side (scipy.ndimage's ``radius=ceil(4 sigma)``).
    border : {"reflect101", "reflect", "replicate", "constant", "wrap"}
    cval : float
        Value outside the image with ``border="constant"``.
    out : ndarray, optional
        Array to write the result into (the result's shape and dtype).

    Returns
    -------
    ndarray
        float32 (float64 for float64 input), shape of `image`.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> img = np.full((9, 9), 7, np.uint8)
    >>> out = imgrad.gaussian(img, 2.0)
    >>> out.dtype, bool(np.allclose(out, 7))
    (dtype('float32'), True)
    """
    where = "gaussian"
    image = np.ascontiguousarray(check_image(image, where=where))
    sigma = SIGMA.check(sigma, where)
    ksize = gaussian_ksize(sigma, KSIZE.check(ksize, where))
    border = BORDER.check(border, where)
    cval = CVAL.check(cval, where)
    dtype = float_dtype(image)
    if out is not None:
        check_out(out, image.shape, dtype, where=where)
    kernel = cv2.getGaussianKernel(ksize, sigma, cv2.CV_64F)
    if dtype == np.float32:
        # Summed in float64 and rounded once: a flat region comes out exactly flat
        # (its weighted sum is within 1e-15 of the value, which float32 holds), and
        # no bit depends on where OpenCV's vector code or its scalar tail ran.
        def apply(img, cv_border, dst):
            wide = cv2.sepFilter2D(img, cv2.CV_64F, kernel, kernel, borderType=cv_border)
            if dst is None:
                return wide.astype(np.float32)
            np.copyto(dst, wide.reshape(dst.shape), casting="same_kind")
            return dst

        return filter_with_border(apply, image, ksize // 2, border, cval, dtype, out)

    def apply64(img, cv_border, dst):
        return cv2.sepFilter2D(img, cv2.CV_64F, kernel, kernel, dst=dst, borderType=cv_border)

    # float64 has no wider type: a flat float64 image comes out flat within a few ulps.
    return filter_with_border(apply64, image, ksize // 2, border, cval, dtype, out)
