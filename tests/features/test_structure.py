"""structure_tensor against scikit-image, the structure-tensor package and gratings.

References and the tolerances checked (scikit-image 0.26 and 0.22 compute
these the same way; structure-tensor 0.3.4; SciPy 1.17):

- scikit-image's ``structure_tensor(image, sigma=rho, mode=m, order="xy")``
  with its Sobel derivatives replaced by SciPy's Gaussian derivatives of scale
  `sigma` (its averaging, axis order and eigenvalues are its own), times 255²
  for uint8 (it works on ``img_as_float``): planes within 1e-12 (float64) and
  1e-6 (float32) of the largest reference value, measured 1e-15 and 3e-7;
  energy likewise; coherence within 1e-9 / 2e-6 where the energy exceeds
  1e-3 of its maximum; orientation (precise) within 1e-9 / 1e-4 rad there
  (measured 2e-5 rad), and within 2e-4 rad with OpenCV's fast arctangent.
- structure-tensor's ``structure_tensor_2d(image, sigma, rho)`` (mode "nearest"
  = ``border="replicate"``; its ``S`` is ``(Ayy, Axx, Axy)`` because its x is
  the first axis): the same tolerances, and its smallest eigenvalue's vector
  is the orientation.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.feature as skf
import skimage.feature.corner as corner

import imgrad.features as F

from ..strategies import SCIPY_MODES

DTYPES = ["uint8", "uint16", "float32", "float64"]


def gaussian_derivatives(sigma):
    def derivatives(image, mode="constant", cval=0):
        return [
            ndi.gaussian_filter(image, sigma, order=(1, 0), mode=mode, cval=cval),
            ndi.gaussian_filter(image, sigma, order=(0, 1), mode=mode, cval=cval),
        ]

    return derivatives


def skimage_reference(image, sigma, rho, mode, monkeypatch):
    """(Axx, Axy, Ayy, l1, l2) by scikit-image, on float64, in imgrad's units."""
    monkeypatch.setattr(corner, "_compute_derivatives", gaussian_derivatives(sigma))
    planes = skf.structure_tensor(image.astype(np.float64), sigma=rho, mode=mode, order="xy")
    monkeypatch.undo()
    l1, l2 = skf.structure_tensor_eigenvalues(planes)
    return (*planes, l1, l2)


def tolerance(dtype):
    return 1e-12 if dtype == "float64" else 1e-6


def angle_difference(a, b, period=np.pi):
    d = np.abs(a - b) % period
    return np.minimum(d, period - d)


def check_against(st, ref, dtype, precise=True):
    axx, axy, ayy, l1, l2 = ref
    peak = max(np.abs(p).max() for p in (axx, axy, ayy))
    for ours, theirs in zip(st[:3], (axx, axy, ayy), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance(dtype) * peak)
    np.testing.assert_allclose(st.energy, l1 + l2, rtol=0, atol=2 * tolerance(dtype) * peak)
    trace = l1 + l2
    strong = trace > 1e-3 * trace.max()
    coh = (l1 - l2)[strong] / trace[strong]
    coh_tol = 1e-9 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(st.coherence[strong], coh, rtol=0, atol=coh_tol)
    expected = 0.5 * np.arctan2(-2 * axy, ayy - axx) % np.pi
    oriented = strong & ((l1 - l2) > 1e-3 * trace)
    ori_tol = (1e-9 if dtype == "float64" else 1e-4) if precise else 2e-4
    assert angle_difference(st.orientation, expected)[oriented].max() <= ori_tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(SCIPY_MODES))
@pytest.mark.parametrize(("sigma", "rho"), [(1.0, 2.0), (1.0, 3.0), (2.0, 1.5)])
def test_equals_scikit_image_on_a_photo(photos, dtype, border, sigma, rho, monkeypatch):
    image = photos[f"gray-{dtype}"]
    st = F.structure_tensor(image, sigma, rho, border=border, precise=True)
    out_dtype = np.float64 if dtype == "float64" else np.float32
    assert all(p.dtype == out_dtype and p.shape == image.shape for p in st)
    check_against(
        st, skimage_reference(image, sigma, rho, SCIPY_MODES[border], monkeypatch), dtype
    )


def test_fast_orientation_within_2e_4(photos, monkeypatch):
    image = photos["gray-uint8"]
    st = F.structure_tensor(image, 1.0, 3.0)
    check_against(st, skimage_reference(image, 1.0, 3.0, "mirror", monkeypatch), "uint8", False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_equals_the_structure_tensor_package(photos, dtype):
    from structure_tensor import eig_special_2d, structure_tensor_2d

    image = photos[f"gray-{dtype}"]
    s = structure_tensor_2d(image.astype(np.float64), 1.0, 3.0)
    val, vec = eig_special_2d(s)
    st = F.structure_tensor(image, 1.0, 3.0, border="replicate", precise=True)
    check_against(st, (s[1], s[2], s[0], val[1], val[0]), dtype)
    # Its vector of the smallest eigenvalue (row, column) runs along the structure.
    along = np.arctan2(vec[0], vec[1]) % np.pi
    trace = val[0] + val[1]
    oriented = (trace > 1e-3 * trace.max()) & (val[1] - val[0] > 1e-3 * trace)
    assert angle_difference(st.orientation, along)[oriented].max() <= 1e-4


@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, 90.0, 123.0, 160.0])
def test_rotated_grating(angle):
    """Stripes running at `angle` degrees counter-clockwise from the x axis."""
    y, x = np.mgrid[:128, :128].astype(np.float64)
    a = np.radians(angle)
    grating = 100 + 80 * np.sin(0.6 * (-np.sin(a) * x - np.cos(a) * y))  # y points down
    for dtype in (np.uint8, np.float32):
        image = grating.astype(dtype)
        inner = (slice(24, 104), slice(24, 104))
        math = F.structure_tensor(image, 1.0, 4.0, convention="math", degrees=True)
        screen = F.structure_tensor(image, 1.0, 4.0, degrees=True)
        assert angle_difference(math.orientation[inner], angle, 180).max() < 0.5
        assert angle_difference(screen.orientation[inner], -angle, 180).max() < 0.5
        assert math.coherence[inner].min() > 0.98
        assert 0 <= math.orientation.min() and math.orientation.max() < 180


def test_flat_gives_exactly_zero_everywhere():
    for dtype in DTYPES:
        for border in SCIPY_MODES:
            flat = np.full((40, 50), 7, dtype)
            st = F.structure_tensor(flat, 1.5, 2.5, border=border, cval=7)
            for plane in st:
                assert not plane.any(), (dtype, border)


def test_isotropic_noise_has_low_coherence():
    rng = np.random.default_rng(7)
    noise = rng.normal(size=(200, 200))
    st = F.structure_tensor(noise, 1.0, 6.0)
    assert np.median(st.coherence) < 0.2
    assert 0 <= st.coherence.min() and st.coherence.max() <= 1


def test_channels(photos):
    image = photos["rgb-float32"]
    sep = F.structure_tensor(image, 1.0, 2.0)
    assert all(p.shape == image.shape for p in sep)
    summed = F.structure_tensor(image, 1.0, 2.0, channels="sum")
    assert summed.Axx.shape == image.shape[:2]
    np.testing.assert_allclose(summed.Axx, sep.Axx.sum(axis=2), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(summed.Axy, sep.Axy.sum(axis=2), rtol=1e-4, atol=1e-7)
    best = F.structure_tensor(image, 1.0, 2.0, channels="max")
    g = F.gaussian_gradient(image, 1.0, channels="max")
    assert best.Axx.shape == image.shape[:2]
    products = (g.gx * g.gx, g.gx * g.gy, g.gy * g.gy)
    for ours, product in zip(best[:3], products, strict=True):
        ref = ndi.gaussian_filter(product.astype(np.float64), 2.0, mode="mirror")
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_orientation_and_coherence_functions_match_the_planes(photos):
    st = F.structure_tensor(photos["gray-float64"], 1.0, 2.0, degrees=True, precise=True)
    np.testing.assert_array_equal(
        F.orientation(st.Axx, st.Axy, st.Ayy, degrees=True, precise=True), st.orientation
    )
    np.testing.assert_allclose(F.coherence(st.Axx, st.Axy, st.Ayy), st.coherence, atol=1e-15)
    l1, l2 = F.symmetric_eigenvalues(st.Axx, st.Axy, st.Ayy)
    ref = skf.structure_tensor_eigenvalues([st.Axx, st.Axy, st.Ayy])
    np.testing.assert_allclose(l1, ref[0], rtol=1e-13)
    np.testing.assert_allclose(l2, ref[1], rtol=1e-12, atol=1e-12 * np.abs(ref[0]).max())


def test_input_not_modified(photos):
    image = photos["rgb-uint8"]
    before = image.copy()
    F.structure_tensor(image, 1.0, 2.0, channels="sum")
    np.testing.assert_array_equal(image, before)


def test_radius():
    assert F.structure_tensor_radius(1.0, 3.0) == 4 + 12
    assert F.structure_tensor_radius(1.0, 3.0, truncate=2.0) == 2 + 6


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"rho": 0}, ValueError, r"'rho' parameter of structure_tensor must be a number > 0"),
        ({"rho": 1e5}, ValueError, r"'rho' parameter .* at most 16384 px"),
        ({"sigma": -1}, ValueError, r"'sigma' parameter of structure_tensor"),
        ({"channels": "all"}, ValueError, r"'channels' .* \{'separate', 'max', 'sum'\}"),
        ({"convention": "xy"}, ValueError, r"'convention' parameter of structure_tensor"),
        ({"degrees": "yes"}, TypeError, r"'degrees' parameter of structure_tensor"),
        ({"border": "nearest"}, ValueError, r"'border' parameter of structure_tensor"),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        F.structure_tensor(np.zeros((5, 6), np.uint8), **kwargs)


def test_plane_errors():
    with pytest.raises(ValueError, match=r"'Axx' and 'Ayy' parameters of coherence"):
        F.coherence(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 3)))
