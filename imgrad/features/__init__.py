"""Features computed from gradients: derivatives at a scale, the structure tensor,
the Hessian, descriptors and edges.

- :func:`gaussian_gradient` — derivative-of-Gaussian ``gx``, ``gy`` at a scale
  ``sigma`` (``scipy.ndimage.gaussian_filter(..., order=1)``), with
  :func:`gaussian_radius` (the halo) and :func:`gaussian_kernel`.
- :func:`structure_tensor` — ``Axx``, ``Axy``, ``Ayy`` and OrientationJ's
  ``orientation``, ``coherence`` and ``energy``; :func:`orientation`,
  :func:`coherence` and :func:`symmetric_eigenvalues` on tensor planes.
- :func:`hessian` — ``Hrr``, ``Hrc``, ``Hcc`` and the eigenvalues ``l1 >= l2``
  (``skimage.feature.hessian_matrix`` with Gaussian derivatives).
- :func:`hog`, :func:`hog_histograms`, :func:`hog_normalize` — histograms of
  oriented gradients, equal to ``skimage.feature.hog``.
- :func:`canny` — Canny edges, equal to ``cv2.Canny`` on uint8 images.

Examples
--------
>>> import numpy as np, imgrad.features as F
>>> stripes = np.tile(np.sin(np.arange(64) / 3.0), (64, 1))   # vertical stripes
>>> st = F.structure_tensor(stripes, 1.0, 3.0, degrees=True, precise=True)
>>> round(float(st.orientation[32, 32]), 3), round(float(st.coherence[32, 32]), 3)
(90.0, 1.0)
>>> image = np.zeros((48, 48), np.uint8); image[:, 24:] = 200
>>> F.hog(image).shape, int(F.canny(image, 50, 100)[:, 23:25].max())
((1296,), 255)
"""

from __future__ import annotations

from imgrad.features.canny import canny
from imgrad.features.hessian import Hessian, hessian, hessian_radius
from imgrad.features.hog import HOG, hog, hog_histograms, hog_normalize
from imgrad.features.scale import MAX_RADIUS, gaussian_gradient, gaussian_kernel, gaussian_radius
from imgrad.features.structure import (
    StructureTensor,
    coherence,
    orientation,
    structure_tensor,
    structure_tensor_radius,
    symmetric_eigenvalues,
)

__all__ = [
    "HOG",
    "MAX_RADIUS",
    "Hessian",
    "StructureTensor",
    "canny",
    "coherence",
    "gaussian_gradient",
    "gaussian_kernel",
    "gaussian_radius",
    "hessian",
    "hessian_radius",
    "hog",
    "hog_histograms",
    "hog_normalize",
    "orientation",
    "structure_tensor",
    "structure_tensor_radius",
    "symmetric_eigenvalues",
]
