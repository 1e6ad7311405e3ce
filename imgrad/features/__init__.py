"""What people compute from gradients: descriptors and edges.

- :func:`hog`, :func:`hog_histograms`, :func:`hog_normalize`: histograms of
  oriented gradients, equal to ``skimage.feature.hog``;
- :func:`canny`: Canny edges, equal to ``cv2.Canny`` on uint8 images.

Examples
--------
>>> import numpy as np
>>> from imgrad.features import canny, hog
>>> image = np.zeros((48, 48), np.uint8); image[:, 24:] = 200
>>> hog(image).shape, int(canny(image, 50, 100)[:, 23:25].max())
((1296,), 255)
"""

from __future__ import annotations

from imgrad.features.canny import canny
from imgrad.features.hog import HOG, hog, hog_histograms, hog_normalize

__all__ = ["HOG", "canny", "hog", "hog_histograms", "hog_normalize"]
