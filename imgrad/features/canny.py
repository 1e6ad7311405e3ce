"""Canny edges, equal to ``cv2.Canny`` on uint8 images, and the same algorithm
on uint16 and float images.

The algorithm (OpenCV's)
------------------------
1. Sobel derivatives of size `aperture`, the border replicated;
2. the magnitude ``sqrt(gx² + gy²)`` (``l2=True``) or ``|gx| + |gy|``;
3. non-maximum suppression: a pixel is kept if its magnitude exceeds `low`
   and is a maximum across the edge, in one of four directions (the gradient's,
   rounded to a multiple of 45 degrees; ties broken as OpenCV does);
4. hysteresis: kept pixels above `high` are edges, and so is every kept pixel
   connected to one of them through kept pixels (8-connectivity).

Colour images use, at each pixel, the channel of largest magnitude (the first
on ties), as ``cv2.Canny`` does.

Thresholds are in the units of the gradient magnitude of the image as given:
for uint8 they are OpenCV's; a uint16 image ``257 * u8`` with thresholds
``257 * (low, high)`` gives the same edges as ``u8`` with ``(low, high)``, and a
float image ``u8 / 255`` takes thresholds divided by 255 (its edges then equal
``u8``'s but where the division rounds two equal magnitudes apart: a few
pixels in ten thousand edge pixels).

Dtypes
------
- uint8: ``cv2.Canny`` itself, so bit for bit OpenCV's.
- uint16, float32, float64: the steps above in NumPy, derivatives exact in
  float64 (float32 for float32 input, whose integer-valued pixels stay exact),
  magnitudes and comparisons in float64. For apertures 3 and 5 this gives
  ``cv2.Canny``'s edges exactly on images holding uint8 values. OpenCV divides
  its 7x7 derivatives by 16 and rounds them to integers (and its thresholds by
  16); here they are exact, so with aperture 7 about 1 % of the edge pixels
  differ.

Relation to scikit-image
------------------------
``skimage.feature.canny(image, sigma, low_threshold, high_threshold)`` first
smooths with a Gaussian of `sigma` (1 by default), differentiates with a 3x3
Sobel scaled to a per-pixel slope (1/8 of OpenCV's), interpolates the
magnitude across the edge for the suppression, and does not keep pixels at
the image border. Its thresholds are therefore on another scale and its edges
differ in places; to approach it, smooth first (``imgrad.gaussian``) and
multiply its thresholds by 8.
"""

from __future__ import annotations

import cv2
import numpy as np

from imgrad._params import Bool, Float, Int
from imgrad._validation import check_image, fail
from imgrad.derivatives import sobel

__all__ = ["canny"]

LOW = Float("low", "magnitude above which a pixel joins an edge that reaches high", low=0.0)
HIGH = Float("high", "magnitude above which a pixel starts an edge", low=0.0)
APERTURE = Int(
    "aperture", "Sobel aperture: 3, 5 or 7 (cv2.Canny's apertureSize)", low=3, high=7, odd=True
)
L2 = Bool("l2", "magnitude sqrt(gx²+gy²); false: |gx|+|gy| (cv2.Canny's default)")

#: OpenCV's fixed-point tangent of 22.5 degrees, and its scale.
TG22 = 13573
SHIFT = 1 << 15


def canny(
    image: np.ndarray, low: float, high: float, *, aperture: int = 3, l2: bool = True
) -> np.ndarray:
    """Canny edge map, equal to ``cv2.Canny(image, low, high, apertureSize=aperture,
    L2gradient=l2)`` on uint8 images.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64. Channels: the strongest at each pixel.
    low, high : float
        Hysteresis thresholds on the gradient magnitude, ``0 <= low <= high``,
        in the units of the image's values (see the module notes).
        (``cv2.Canny`` swaps them silently when ``low > high``; this raises.)
    aperture : {3, 5, 7}
        Size of the Sobel derivatives.
    l2 : bool
        ``sqrt(gx² + gy²)`` as the magnitude (the default here, and
        scikit-image's); False: ``|gx| + |gy|`` (``cv2.Canny``'s default).

    Returns
    -------
    ndarray, shape (H, W), uint8
        255 on edges, 0 elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from imgrad.features import canny
    >>> image = np.zeros((9, 9), np.uint8); image[:, 4:] = 100
    >>> edges = canny(image, 100, 200)
    >>> edges[4]                       # one column of edge pixels along the step
    array([  0,   0,   0, 255,   0,   0,   0,   0,   0], dtype=uint8)
    >>> np.array_equal(canny(image.astype(np.float32) / 255, 100 / 255, 200 / 255), edges)
    True
    """
    where = "canny"
    image = check_image(image, where=where)
    low = LOW.check(low, where)
    high = HIGH.check(high, where)
    if low > high:
        raise fail("low", where, f"a number <= high ({high:g})", low)
    aperture = APERTURE.check(aperture, where)
    l2 = L2.check(l2, where)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.dtype == np.uint8:
        return cv2.Canny(
            np.ascontiguousarray(image), low, high, apertureSize=aperture, L2gradient=l2
        )
    return _canny(image, low, high, aperture, l2)


def _canny(image, low, high, aperture, l2) -> np.ndarray:
    """The algorithm in NumPy, for uint16 and float images."""
    if image.dtype == np.uint16:
        image = image.astype(np.float64)  # 7x7 derivatives of uint16 exceed float32's integers
    gx, gy = sobel(image, aperture, border="replicate")
    gx, gy = gx.astype(np.float64), gy.astype(np.float64)
    if l2:
        magnitude = gx * gx + gy * gy
        low, high = low * low, high * high
    else:
        magnitude = np.abs(gx) + np.abs(gy)
    if magnitude.ndim == 3:
        best = magnitude.argmax(axis=2)[..., None]
        gx, gy, magnitude = (
            np.take_along_axis(p, best, axis=2)[..., 0] for p in (gx, gy, magnitude)
        )
    kept = _suppress(magnitude, gx, gy, low)
    return _hysteresis(kept, kept & (magnitude > high))


def _suppress(magnitude, gx, gy, low) -> np.ndarray:
    """Pixels above `low` that are maxima across the edge, with OpenCV's sectors
    (its fixed-point tangents) and its ties (strict on one side)."""
    m = np.pad(magnitude, 1)  # zeros around, as OpenCV's buffers
    centre = m[1:-1, 1:-1]
    ax, ay = np.abs(gx) * TG22, np.abs(gy) * SHIFT
    horizontal = ay < ax  # within 22.5 degrees of the x axis
    vertical = ay > ax + np.abs(gx) * (2 * SHIFT)  # within 22.5 degrees of the y axis
    falling = (gx < 0) != (gy < 0)  # the diagonal goes up-right / down-left
    across = np.where(
        horizontal,
        (centre > m[1:-1, :-2]) & (centre >= m[1:-1, 2:]),
        np.where(
            vertical,
            (centre > m[:-2, 1:-1]) & (centre >= m[2:, 1:-1]),
            np.where(
                falling,
                (centre > m[:-2, 2:]) & (centre > m[2:, :-2]),
                (centre > m[:-2, :-2]) & (centre > m[2:, 2:]),
            ),
        ),
    )
    return across & (centre > low)


def _hysteresis(kept: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """255 on the 8-connected groups of `kept` pixels that hold a `strong` one."""
    count, labels = cv2.connectedComponents(kept.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    edge = np.zeros(count, np.uint8)
    edge[labels[strong]] = 255
    edge[0] = 0  # the background
    return edge[labels]
