"""The structure tensor: local orientation and anisotropy, as OrientationJ.

At scale ``sigma`` the gradient ``(gx, gy)`` is taken with derivative-of-Gaussian
kernels (:func:`imgrad.features.gaussian_gradient`); its products are averaged
by a Gaussian of scale ``rho`` (the integration scale, OrientationJ's "local
window")::

    Axx = G_rho * gx²,   Axy = G_rho * gx gy,   Ayy = G_rho * gy²

With ``l1 >= l2`` the eigenvalues of ``[[Axx, Axy], [Axy, Ayy]]``, OrientationJ
(Rezakhaniha et al. 2012; Püspöki et al. 2016) defines

- ``energy = l1 + l2 = Axx + Ayy``,
- ``coherence = (l1 - l2) / (l1 + l2)``: 0 for isotropic texture (and,
  here, exactly 0 where the energy is 0), 1 for a single orientation,
- ``orientation = 1/2 atan2(2 Axy, Ayy - Axx)`` in the "math" convention: the
  direction *along* the structure (fibres, stripes, edges run that way), at
  right angles to the dominant gradient.

Here the orientation lies in [0, pi) (or [0, 180) degrees); OrientationJ's
(-90, 90] is the same angle modulo 180 degrees. ``convention="image"`` (the
default, as :func:`imgrad.phase`) measures it with y pointing down, i.e.
clockwise on screen; ``convention="math"`` counter-clockwise as OrientationJ
(``math = 180 - image`` modulo 180). Where ``Axy == 0`` and ``Axx == Ayy``
the orientation is undefined and given as 0.

scikit-image
------------
``skimage.feature.structure_tensor(image, sigma=rho, mode=m, order="xy")``
returns ``(Axx, Axy, Ayy)`` computed from 3x3 Sobel derivatives (scipy's
``ndimage.sobel``, gain 8) of ``img_as_float(image)``, not from Gaussian
derivatives: its `sigma` is the integration scale ``rho``. There is no
parameter matching its derivative; the tests build the reference from
imgrad's kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from imgrad._border import filter_with_border
from imgrad._dtype import cv_depth
from imgrad._params import Choice, Float
from imgrad._validation import check_image, check_same_shape
from imgrad.features.scale import (
    _check_scale,
    check_radius,
    concurrently,
    gaussian_gradient,
    gaussian_kernel,
    gaussian_radius,
    working_kernel,
)
from imgrad.magphase import CONVENTION, DEGREES, PRECISE, magnitude, phase, polar

__all__ = [
    "StructureTensor",
    "coherence",
    "orientation",
    "structure_tensor",
    "structure_tensor_radius",
    "symmetric_eigenvalues",
]

RHO = Float(
    "rho",
    "integration scale: standard deviation of the Gaussian averaging gx², gx gy, gy²",
    low=0.0,
    strict=True,
)
CHANNELS = Choice(
    "channels",
    ("separate", "max", "sum"),
    "separate: one tensor per channel; max: the gradient of the strongest channel; "
    "sum: the tensors summed over the channels (Di Zenzo's colour structure tensor)",
)


class StructureTensor(NamedTuple):
    """Structure tensor planes and OrientationJ's features.

    Attributes
    ----------
    Axx, Axy, Ayy : ndarray
        Averaged products of the derivatives.
    orientation : ndarray
        Direction along the structure, in [0, pi) (or [0, 180)).
    coherence : ndarray
        ``(l1 - l2) / (l1 + l2)`` in [0, 1]; 0 where the energy is 0.
    energy : ndarray
        ``l1 + l2 = Axx + Ayy``.
    """

    Axx: np.ndarray
    Axy: np.ndarray
    Ayy: np.ndarray
    orientation: np.ndarray
    coherence: np.ndarray
    energy: np.ndarray


def structure_tensor_radius(sigma: float, rho: float, truncate: float = 4.0) -> int:
    """Pixels a tile needs around it for :func:`structure_tensor`: the two kernel radii.

    Examples
    --------
    >>> structure_tensor_radius(1.0, 3.0)
    16
    """
    return gaussian_radius(sigma, truncate) + gaussian_radius(rho, truncate)


def structure_tensor(
    image: np.ndarray,
    sigma: float = 1.0,
    rho: float = 2.0,
    *,
    truncate: float = 4.0,
    border: str = "reflect101",
    cval: float = 0.0,
    channels: str = "separate",
    convention: str = "image",
    degrees: bool = False,
    precise: bool = False,
) -> StructureTensor:
    """Structure tensor at derivative scale `sigma` and integration scale `rho`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64.
    sigma : float
        Scale of the derivative-of-Gaussian gradient, > 0 (OrientationJ's
        "Gaussian gradient" sigma; the `sigma` of the ``structure-tensor`` package).
    rho : float
        Scale of the Gaussian window averaging the products, > 0 (OrientationJ's
        "local window sigma"; scikit-image's `sigma`; the package's `rho`).
    truncate : float
        Both kernels' radius in standard deviations, as scipy.ndimage.
    border : {"reflect101", "reflect", "replicate", "constant", "wrap"}
        Border mode of both filters. With "constant" the products are
        averaged with zeros outside (the gradient of a constant surround).
    cval : float
        Value outside the image with ``border="constant"``.
    channels : {"separate", "max", "sum"}
        "separate": a tensor per channel, planes (H, W, C); "max": the
        gradient of the channel of largest magnitude at each pixel; "sum":
        the channels' tensors summed (Di Zenzo), planes (H, W).
    convention : {"image", "math"}
        Orientation measured clockwise on screen (y down) or counter-clockwise
        (y up, as OrientationJ).
    degrees : bool
        Orientation in degrees instead of radians.
    precise : bool
        Orientation from float64 ``arctan2`` (error < 1e-6 rad) instead of
        OpenCV's fast arctangent (error < 1e-4 rad, half that of :func:`imgrad.phase`).

    Returns
    -------
    StructureTensor
        Six planes, float32 (float64 for float64 input).

    Examples
    --------
    >>> import numpy as np, imgrad.features as F
    >>> y, x = np.mgrid[:64, :64]
    >>> lines = np.sin((x + y) / 2.0)   # stripes running from top right to bottom left
    >>> st = F.structure_tensor(lines, 1.0, 3.0, convention="math", degrees=True, precise=True)
    >>> round(float(st.orientation[32, 32]), 2), round(float(st.coherence[32, 32]), 4)
    (45.0, 1.0)
    >>> flat = F.structure_tensor(np.full((16, 16), 9, np.uint8))
    >>> float(flat.coherence.max()), float(flat.energy.max())
    (0.0, 0.0)
    """
    where = "structure_tensor"
    image, dtype, _ = _check_scale(image, where, sigma, truncate, border, cval)
    rho = RHO.check(rho, where)
    rho_radius = check_radius(rho, truncate, where, "rho")
    channels = CHANNELS.check(channels, where)
    _check_angle_options(where, convention, degrees, precise)
    gx, gy = gaussian_gradient(
        image,
        sigma,
        truncate=truncate,
        border=border,
        cval=cval,
        channels="max" if channels == "max" else "separate",
    )
    xx, xy, yy = concurrently(image, lambda: gx * gx, lambda: gx * gy, lambda: gy * gy)
    if channels == "sum" and xx.ndim == 3:
        xx, xy, yy = (p.sum(axis=2, dtype=dtype) for p in (xx, xy, yy))
    kernel = working_kernel(gaussian_kernel(rho, 0, rho_radius), dtype)
    axx, axy, ayy = (_average(p, kernel, border, dtype) for p in (xx, xy, yy))
    return StructureTensor(axx, axy, ayy, *_features(axx, axy, ayy, convention, degrees, precise))


def orientation(
    Axx: np.ndarray,
    Axy: np.ndarray,
    Ayy: np.ndarray,
    *,
    convention: str = "image",
    degrees: bool = False,
    precise: bool = False,
) -> np.ndarray:
    """Direction along the structure, in [0, pi): ``1/2 atan2(2 Axy, Ayy - Axx)`` ("math").

    Parameters as :func:`structure_tensor`; the planes are of one shape.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((1, 1))
    >>> float(orientation(one, 0 * one, 0 * one, degrees=True)[0, 0])   # gradient along x
    90.0
    >>> float(orientation(one, one, one, degrees=True, precise=True)[0, 0])   # gx = gy
    135.0
    """
    where = "orientation"
    Axx, Axy, Ayy = _check_planes(where, Axx, Axy, Ayy)
    _check_angle_options(where, convention, degrees, precise)
    angle = phase(Ayy - Axx, -2 * Axy, convention=convention, degrees=degrees, precise=precise)
    return np.multiply(angle, angle.dtype.type(0.5), out=angle)


def coherence(Axx: np.ndarray, Axy: np.ndarray, Ayy: np.ndarray) -> np.ndarray:
    """``(l1 - l2) / (l1 + l2) = sqrt((Axx - Ayy)² + 4 Axy²) / (Axx + Ayy)``, in [0, 1].

    0 where ``Axx + Ayy == 0``.

    Examples
    --------
    >>> import numpy as np
    >>> coherence(np.array([[4.0, 0.0]]), np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))
    array([[0.6, 0. ]])
    """
    Axx, Axy, Ayy = _check_planes("coherence", Axx, Axy, Ayy)
    energy = Axx + Ayy
    return _coherence(magnitude(Ayy - Axx, 2 * Axy), energy)


def symmetric_eigenvalues(
    a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``l1 >= l2`` of the symmetric matrices ``[[a, b], [b, c]]``, pixel by pixel.

    ``(a + c) / 2 +- sqrt(b² + ((a - c) / 2)²)``, the formula of scikit-image's
    ``structure_tensor_eigenvalues`` and ``hessian_matrix_eigvals``.

    Examples
    --------
    >>> import numpy as np
    >>> l1, l2 = symmetric_eigenvalues(np.array([[2.0]]), np.array([[1.0]]), np.array([[2.0]]))
    >>> float(l1[0, 0]), float(l2[0, 0])
    (3.0, 1.0)
    """
    a, b, c = _check_planes("symmetric_eigenvalues", a, b, c, names=("a", "b", "c"))
    mean = a + c
    mean *= mean.dtype.type(0.5)
    half = a - c
    half *= half.dtype.type(0.5)
    root = magnitude(b, half)
    return mean + root, np.subtract(mean, root, out=mean)


# --- internals ------------------------------------------------------------------------


def _check_angle_options(where, convention, degrees, precise):
    CONVENTION.check(convention, where)
    DEGREES.check(degrees, where)
    PRECISE.check(precise, where)


def _check_planes(where, *planes, names=("Axx", "Axy", "Ayy")):
    planes = [check_image(p, where=where, param=n) for p, n in zip(planes, names, strict=True)]
    for plane, name in zip(planes[1:], names[1:], strict=True):
        check_same_shape(planes[0], plane, names=(names[0], name), where=where)
    dtype = np.result_type(np.float32, *planes)
    return [np.ascontiguousarray(p, dtype=dtype) for p in planes]


def _average(plane, kernel, border, dtype):
    """Gaussian average of a product plane; a constant surround has no gradient, so
    ``border="constant"`` averages with zeros."""
    depth = cv_depth(dtype)

    def apply(img, cv_border, dst):
        return cv2.sepFilter2D(img, depth, kernel, kernel, dst=dst, borderType=cv_border)

    return filter_with_border(apply, plane, len(kernel) // 2, border, 0.0, dtype)


def _features(axx, axy, ayy, convention, degrees, precise):
    """OrientationJ's orientation, coherence and energy from the tensor planes."""
    root, angle = polar(
        ayy - axx, -2 * axy, convention=convention, degrees=degrees, precise=precise
    )
    np.multiply(angle, angle.dtype.type(0.5), out=angle)
    energy = axx + ayy
    return angle, _coherence(root, energy), energy


def _coherence(root, energy):
    out = np.zeros_like(root)
    np.divide(root, energy, out=out, where=energy > 0)
    # Rounding can put l2 a hair below 0 for a single orientation.
    return np.minimum(out, out.dtype.type(1), out=out)
