"""Border modes shared by every neighbourhood operator.

The names follow OpenCV's semantics; "wrap" and "constant" with a non-zero
``cval`` are emulated by padding explicitly, because OpenCV's derivative and
smoothing filters offer neither.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["BORDERS", "MORPH_BORDERS", "cv_view", "deliver", "filter_with_border"]

#: Border modes of the filters, and their meaning for a row ``a b c d``.
BORDERS = ("reflect101", "reflect", "replicate", "constant", "wrap")
#: Morphology adds "ignore": pixels outside the image take no part.
MORPH_BORDERS = ("ignore", *BORDERS)

_CV_BORDER = {
    "reflect101": cv2.BORDER_REFLECT_101,  # d c b | a b c d | c b a
    "reflect": cv2.BORDER_REFLECT,  # c b a | a b c d | d c b
    "replicate": cv2.BORDER_REPLICATE,  # a a a | a b c d | d d d
    "constant": cv2.BORDER_CONSTANT,  # k k k | a b c d | k k k
    "wrap": cv2.BORDER_WRAP,  # b c d | a b c d | a b c
}


def cv_border(border: str) -> int:
    """OpenCV constant for a border name."""
    return _CV_BORDER[border]


def filter_with_border(
    apply: Callable[[np.ndarray, int, np.ndarray | None], np.ndarray],
    image: np.ndarray,
    radius: int,
    border: str,
    cval: float,
    dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``apply(image, cv_border, dst)`` with any border mode.

    `apply` is an OpenCV filter reading at most `radius` pixels around each
    output pixel, writing into `dst` when it is given. Modes OpenCV's filters
    lack are padded explicitly, and the padded margin is cropped from the
    result; values are unaffected. Images of more than four channels are
    filtered channel by channel (OpenCV's border values hold four).

    Returns `out` (filled) when given, else a new array of `image`'s shape.
    """
    if image.ndim == 3 and image.shape[2] > 4:
        planes = [
            filter_with_border(
                apply, np.ascontiguousarray(image[..., c]), radius, border, cval, dtype
            )
            for c in range(image.shape[2])
        ]
        return deliver(np.stack(planes, axis=-1), out)
    if border == "wrap" or (border == "constant" and cval != 0):
        # Convert first so that cval is not saturated to the input's range.
        padded = cv2.copyMakeBorder(
            image.astype(dtype, copy=False),
            radius,
            radius,
            radius,
            radius,
            _CV_BORDER[border],
            value=(float(cval),) * 4,
        )
        result = apply(padded, cv2.BORDER_REFLECT_101, None)
        result = result[radius : result.shape[0] - radius, radius : result.shape[1] - radius]
        return deliver(result.reshape(image.shape), out)
    dst = None if out is None else cv_view(out)
    result = apply(image, _CV_BORDER[border], dst)
    return deliver(result.reshape(image.shape), out)


def cv_view(array: np.ndarray) -> np.ndarray:
    """The array as OpenCV sees it: (H, W, 1) is a one-channel (H, W) image."""
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def deliver(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`result`, or `out` holding it (OpenCV writes in place when it can)."""
    if out is None:
        return result
    if not np.shares_memory(result, out):
        np.copyto(out, result.reshape(out.shape))
    return out
