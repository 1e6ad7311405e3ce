"""hessian against scikit-image's hessian_matrix(use_gaussian_derivatives=True).

Mapping: ``hessian(image, sigma, border=b)`` equals
``hessian_matrix(image, sigma, mode=SCIPY_MODES[b], order="rc",
use_gaussian_derivatives=True)`` times 255 (uint8) or 65535 (uint16), with
the default ``truncate=None`` (scikit-image's 8 for sigma > 1, else 100);
eigenvalues are ``hessian_matrix_eigvals``. Tolerances (scikit-image 0.26,
same code since 0.22): within 1e-12 (float64) and 1e-6 (float32 and the
integer types, computed in float32) of the largest second derivative;
measured 1e-15 and 3e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.feature as skf

import imgrad.features as F

from ..strategies import SCIPY_MODES

DTYPES = ["uint8", "uint16", "float32", "float64"]
SCALE = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0, "float64": 1.0}


def reference(image, sigma, mode, scale):
    planes = skf.hessian_matrix(
        image.astype(np.float64) / scale,
        sigma,
        mode=mode,
        order="rc",
        use_gaussian_derivatives=True,
    )
    eig = skf.hessian_matrix_eigvals(planes)
    return [p * scale for p in (*planes, eig[0], eig[1])]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(SCIPY_MODES))
@pytest.mark.parametrize("sigma", [0.7, 1.0, 1.5, 3.0])
def test_equals_scikit_image_on_a_photo(photos, dtype, border, sigma):
    image = photos[f"gray-{dtype}"]
    h = F.hessian(image, sigma, border=border)
    assert all(p.shape == image.shape for p in h)
    assert all(p.dtype == (np.float64 if dtype == "float64" else np.float32) for p in h)
    ref = reference(image, sigma, SCIPY_MODES[border], SCALE[dtype])
    peak = max(np.abs(p).max() for p in ref[:3])
    tol = (1e-12 if dtype == "float64" else 1e-6) * peak
    for ours, theirs in zip(h, ref, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol)
    assert (h.l1 >= h.l2).all()


def test_truncate_8_and_100_agree_to_1e_13(photos):
    image = photos["gray-float64"]
    a, b = F.hessian(image, 1.0, truncate=8.0), F.hessian(image, 1.0, truncate=100.0)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-13 * np.abs(q).max())


def test_quadratic_surface_known_answer():
    y, x = np.mgrid[:48, :48].astype(np.float64)
    surface = 0.5 * x**2 - 2 * x * y + 1.5 * y**2
    h = F.hessian(surface, 2.0)
    inner = (slice(20, 28), slice(20, 28))
    np.testing.assert_allclose(h.Hcc[inner], 1.0, atol=1e-9)
    np.testing.assert_allclose(h.Hrc[inner], -2.0, atol=1e-9)
    np.testing.assert_allclose(h.Hrr[inner], 3.0, atol=1e-9)
    l1, l2 = np.linalg.eigvalsh(np.array([[3.0, -2.0], [-2.0, 1.0]]))[::-1]
    np.testing.assert_allclose(h.l1[inner], l1, atol=1e-9)
    np.testing.assert_allclose(h.l2[inner], l2, atol=1e-9)


def test_bright_ridge_has_a_strongly_negative_eigenvalue(camera):
    image = np.zeros((64, 64), np.float32)
    image[:, 30:34] = 1.0  # a vertical bright line
    h = F.hessian(image, 2.0)
    assert h.l2[32, 32] < -0.05 and abs(h.l1[32, 32]) < 1e-6
    assert h.Hcc[32, 32] < 0 and abs(h.Hrr[32, 32]) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_flat_gives_exactly_zero(dtype):
    for border in SCIPY_MODES:
        flat = np.full((30, 41), 200, dtype)
        h = F.hessian(flat, 1.5, border=border, cval=200 if border == "constant" else 0)
        assert not any(p.any() for p in h), border


def test_colour_and_input_untouched(photos):
    image = photos["rgb-float64"]
    before = image.copy()
    h = F.hessian(image, 1.2)
    assert h.Hrr.shape == image.shape
    np.testing.assert_array_equal(image, before)
    one = F.hessian(np.ascontiguousarray(image[..., 1]), 1.2)
    np.testing.assert_allclose(h.Hrc[..., 1], one.Hrc, rtol=0, atol=1e-12)


def test_radius_counts_the_taps_that_matter():
    assert F.hessian_radius(2.0, 4.0) == 2 * F.gaussian_radius(2.0 / np.sqrt(2), 4.0)
    # truncate 100 at sigma 1: the Gaussian is zero in float64 beyond 27 px
    assert F.hessian_radius(1.0) == 54


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"sigma": 0.0}, ValueError, r"'sigma' parameter of hessian must be a number > 0"),
        ({"sigma": 1e4, "truncate": 8.0}, ValueError, r"'sigma' parameter of hessian .* 16384"),
        ({"truncate": 0.0}, ValueError, r"'truncate' parameter of hessian must be a number > 0"),
        ({"border": "x"}, ValueError, r"'border' parameter of hessian"),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        F.hessian(np.zeros((5, 6), np.uint8), **kwargs)
