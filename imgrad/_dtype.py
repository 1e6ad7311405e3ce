"""The one dtype policy.

Derivatives, smoothing and polar planes are computed in float32, or in float64
when the input is float64: never wider than needed, never an integer type that
could overflow. Morphology keeps the input dtype.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cv_depth", "float_dtype"]


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """Output float type for the given inputs: float64 if any is float64, else float32.

    Examples
    --------
    >>> import numpy as np
    >>> float_dtype(np.zeros(2, np.uint8))
    dtype('float32')
    >>> float_dtype(np.zeros(2, np.float64))
    dtype('float64')
    """
    if any(a.dtype == np.float64 for a in arrays):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def cv_depth(dtype: np.dtype) -> int:
    """OpenCV depth constant for a float dtype."""
    import cv2

    return cv2.CV_64F if np.dtype(dtype) == np.float64 else cv2.CV_32F
