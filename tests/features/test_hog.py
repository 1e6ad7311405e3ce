"""HOG against scikit-image's skimage.feature.hog and an independent NumPy definition."""

from __future__ import annotations

import doctest
import importlib

import cv2
import numpy as np
import pytest
from skimage.feature import hog as skimage_hog

from imgrad.features import HOG, hog, hog_histograms, hog_normalize

hog_module = importlib.import_module("imgrad.features.hog")

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
#: Descriptor values lie in [0, 1]: the issue's tolerance, absolute.
ATOL = 1e-6


def as_dtype(image: np.ndarray, dtype) -> np.ndarray:
    """A uint8 photo in another dtype, keeping its structure (as the shared fixtures)."""
    if dtype == np.uint8:
        return image.copy()
    if dtype == np.uint16:
        return image.astype(np.uint16) * 257
    return image.astype(dtype) / 255


def reference_histograms(image, orientations, cell, transform_sqrt=False) -> np.ndarray:
    """HOG cell histograms from their definition, in float64, written independently:
    central differences without 1/2 and 0 at the border, the strongest channel,
    unsigned orientation in equal bins, mean magnitude per cell and bin."""
    work = np.float32 if image.dtype == np.float32 else np.float64
    img = image.astype(work)
    if transform_sqrt:
        img = np.sqrt(img)
    if img.ndim == 2:
        img = img[..., None]
    gy = np.zeros_like(img)
    gx = np.zeros_like(img)
    gy[1:-1] = img[2:] - img[:-2]
    gx[:, 1:-1] = img[:, 2:] - img[:, :-2]
    best = np.hypot(gy, gx).argmax(axis=2)[..., None]
    gy = np.take_along_axis(gy, best, axis=2)[..., 0].astype(np.float64)
    gx = np.take_along_axis(gx, best, axis=2)[..., 0].astype(np.float64)
    magnitude = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180
    rows, cols = cell
    n_rows, n_cols = img.shape[0] // rows, img.shape[1] // cols
    width = 180.0 / orientations
    out = np.empty((n_rows, n_cols, orientations))
    for k in range(orientations):
        inside = (angle >= width * k) & (angle < width * (k + 1))
        votes = np.where(inside, magnitude, 0.0)[: n_rows * rows, : n_cols * cols]
        out[..., k] = votes.reshape(n_rows, rows, n_cols, cols).mean(axis=(1, 3))
    return out


@pytest.fixture(scope="module")
def gray(camera):
    return camera[40:300, 60:390]  # 260 x 330: neither a multiple of 8 nor of 3 cells


@pytest.fixture(scope="module")
def rgb(astronaut):
    return astronaut[30:250, 100:370]


# --- numerical correctness: scikit-image -------------------------------------------------


@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gray_equals_scikit_image(gray, block_norm, dtype):
    image = as_dtype(gray, dtype)
    expected = skimage_hog(image, block_norm=block_norm, feature_vector=True)
    got = hog(image, block_norm=block_norm)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rgb_equals_scikit_image_channel_axis(rgb, block_norm, dtype):
    image = as_dtype(rgb, dtype)
    expected = skimage_hog(image, block_norm=block_norm, channel_axis=-1)
    np.testing.assert_allclose(hog(image, block_norm=block_norm), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("colour", [False, True])
def test_transform_sqrt_equals_scikit_image(gray, rgb, dtype, colour):
    image = as_dtype(rgb if colour else gray, dtype)
    expected = skimage_hog(image, transform_sqrt=True, channel_axis=-1 if colour else None)
    np.testing.assert_allclose(hog(image, transform_sqrt=True), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    ("orientations", "cell", "block"),
    [(9, (8, 8), (3, 3)), (7, (6, 10), (2, 3)), (12, (5, 5), (1, 1)), (4, (16, 7), (2, 1))],
)
@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
def test_other_geometries_equal_scikit_image(gray, orientations, cell, block, block_norm):
    kw = dict(orientations=orientations, pixels_per_cell=cell, cells_per_block=block)
    expected = skimage_hog(gray, block_norm=block_norm, feature_vector=False, **kw)
    got = hog(gray, block_norm=block_norm, feature_vector=False, **kw)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


def test_a_whole_photo_and_other_photos(samples_dir):
    for name in ("coins.png", "chelsea.png", "rocket.jpg"):
        image = cv2.imread(str(samples_dir / name), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_allclose(hog(image), skimage_hog(image), rtol=0, atol=ATOL)


def test_orientations_of_exactly_180_degrees_fall_in_no_bin():
    # gx = 1 and gy = -1e-300: the angle is -tiny, and -tiny % 180 rounds to 180.0
    image = np.tile(np.arange(24, dtype=np.float64) / 2, (24, 1))
    image[6, 5] += 1e-300
    expected = skimage_hog(image, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    got = hog(image, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


# --- numerical correctness: the definition ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("colour", [False, True])
def test_histograms_equal_their_definition(gray, rgb, dtype, colour):
    image = as_dtype(rgb if colour else gray, dtype)
    for orientations, cell in ((9, (8, 8)), (7, (5, 9))):
        expected = reference_histograms(image, orientations, cell)
        got = hog_histograms(image, orientations, cell)
        assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
        # Sums in float64, rounded once to float32 (float64: to 1e-12 of the largest).
        scale = np.abs(expected).max()
        tolerance = 1e-12 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("orientations", [9, 7])
def test_histograms_equal_scikit_images_kernel(gray, orientations):
    kernel = pytest.importorskip("skimage.feature._hoghistogram")
    image = gray.astype(np.float64)
    g_row = np.zeros_like(image)
    g_col = np.zeros_like(image)
    g_row[1:-1] = image[2:] - image[:-2]
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    n_rows, n_cols = image.shape[0] // 8, image.shape[1] // 8
    expected = np.zeros((n_rows, n_cols, orientations))
    kernel.hog_histograms(
        g_col, g_row, 8, 8, image.shape[1], image.shape[0], n_cols, n_rows, orientations, expected
    )
    got = hog_histograms(gray, orientations)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * expected.max())


def test_a_vertical_edge_votes_in_bin_zero_and_a_horizontal_one_at_90_degrees():
    image = np.zeros((32, 32), np.uint8)
    image[:, 16:] = 200
    cells = hog_histograms(image)
    assert cells[:, 1, 0].min() > 0 and cells[:, :, 1:].max() == 0
    # Columns 15 and 16 have a gradient of 200, one in each cell: means of 25 in bin 0.
    np.testing.assert_array_equal(cells[:, 1, 0], 25.0)
    np.testing.assert_array_equal(cells[:, 2, 0], 25.0)
    turned = hog_histograms(np.ascontiguousarray(image.T))
    assert turned[1, :, 4].min() == 25.0  # 90 degrees, in [80, 100)
    assert np.delete(turned, 4, axis=2).max() == 0


def test_a_flat_image_gives_zeros():
    flat = np.full((48, 40), 7, np.uint8)
    for block_norm in BLOCK_NORMS:
        assert not hog(flat, block_norm=block_norm).any()


def test_the_descriptor_is_the_normalised_histograms(gray):
    cells = hog_histograms(gray, 9, (8, 8))
    for block_norm in BLOCK_NORMS:
        result = hog(gray, block_norm=block_norm, return_histograms=True)
        assert isinstance(result, HOG)
        np.testing.assert_array_equal(result.histograms, cells)
        np.testing.assert_array_equal(result.descriptor, hog_normalize(cells, (3, 3), block_norm))


def test_normalize_float64_histograms_equals_scikit_image_formulas():
    rng = np.random.default_rng(17)
    cells = rng.random((5, 6, 4)) * rng.choice([1e-7, 1.0, 50.0], size=(5, 6, 1))
    for block_norm in BLOCK_NORMS:
        got = hog_normalize(cells, (2, 3), block_norm, feature_vector=False)
        for r in range(4):
            for c in range(4):
                block = cells[r : r + 2, c : c + 3]
                if block_norm == "L1":
                    expected = block / (np.abs(block).sum() + 1e-5)
                elif block_norm == "L1-sqrt":
                    expected = np.sqrt(block / (np.abs(block).sum() + 1e-5))
                else:
                    expected = block / np.sqrt((block**2).sum() + 1e-10)
                    if block_norm == "L2-Hys":
                        expected = np.minimum(expected, 0.2)
                        expected = expected / np.sqrt((expected**2).sum() + 1e-10)
                np.testing.assert_allclose(got[r, c], expected, rtol=1e-12, atol=1e-15)


# --- shapes, dtypes, inputs ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_and_shape(gray, dtype):
    image = as_dtype(gray, dtype)
    expected = np.float64 if dtype == np.float64 else np.float32
    descriptor = hog(image, feature_vector=False)
    assert descriptor.dtype == expected
    assert descriptor.shape == (32 - 2, 41 - 2, 3, 3, 9)
    assert hog(image).shape == (descriptor.size,)
    assert hog_histograms(image).shape == (32, 41, 9)


def test_input_is_never_modified_and_layout_does_not_matter(gray, rgb):
    for image in (gray, rgb, as_dtype(gray, np.float32)):
        frozen = image.copy()
        frozen.flags.writeable = False
        expected = hog(frozen, transform_sqrt=True)
        np.testing.assert_array_equal(frozen, image)
        fortran = np.asfortranarray(image)
        np.testing.assert_array_equal(hog(fortran, transform_sqrt=True), expected)
    # A strided view equals its contiguous copy.
    view = gray[::2, ::-1]
    np.testing.assert_array_equal(hog(view), hog(view.copy()))


def test_one_channel_equals_gray(gray):
    np.testing.assert_array_equal(hog(gray[..., None]), hog(gray))


def test_small_images_and_one_pixel_cells():
    rng = np.random.default_rng(3)
    for shape in ((1, 1), (2, 3), (3, 2), (5, 4)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        kw = dict(pixels_per_cell=(1, 1), cells_per_block=(1, 1))
        np.testing.assert_allclose(hog(image, **kw), skimage_hog(image, **kw), rtol=0, atol=ATOL)


def test_strips_join_seamlessly(gray, monkeypatch):
    """Histograms do not depend on how many rows are processed at a time."""
    expected = hog_histograms(gray)
    colour = np.dstack([gray, gray[::-1], gray[:, ::-1]])
    expected_colour = hog_histograms(colour)
    for pixels in (1, 64, 8 * 330 * 3 + 1):
        monkeypatch.setattr(hog_module, "STRIP_PIXELS", pixels)
        np.testing.assert_array_equal(hog_histograms(gray), expected)
        np.testing.assert_array_equal(hog_histograms(colour), expected_colour)
        np.testing.assert_array_equal(
            hog_histograms(gray.astype(np.float32)), hog_histograms(gray.astype(np.float32))
        )


# --- exceptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"orientations": 0}, ValueError, "'orientations' parameter of hog"),
        ({"orientations": 2.5}, TypeError, "'orientations' parameter of hog"),
        ({"pixels_per_cell": (8, 0)}, ValueError, "'pixels_per_cell' parameter of hog"),
        ({"pixels_per_cell": (8, 8, 8)}, ValueError, "'pixels_per_cell' parameter of hog"),
        ({"pixels_per_cell": "8"}, TypeError, "'pixels_per_cell' parameter of hog"),
        ({"cells_per_block": (2, True)}, TypeError, "'cells_per_block' parameter of hog"),
        ({"block_norm": "l2"}, ValueError, "'block_norm' parameter of hog must be one of"),
        ({"transform_sqrt": 1}, TypeError, "'transform_sqrt' parameter of hog"),
        ({"feature_vector": None}, TypeError, "'feature_vector' parameter of hog"),
        ({"return_histograms": "yes"}, TypeError, "'return_histograms' parameter of hog"),
    ],
)
def test_bad_parameters_are_named(gray, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        hog(gray, **kwargs)


def test_bad_images_are_named():
    with pytest.raises(TypeError, match="'image' parameter of hog"):
        hog(np.zeros((30, 30), np.int32))
    with pytest.raises(ValueError, match="'image' parameter of hog must have at least 24 rows"):
        hog(np.zeros((23, 100), np.uint8))
    with pytest.raises(ValueError, match="'image' parameter of hog_histograms"):
        hog_histograms(np.zeros((7, 100), np.uint8))
    negative = np.full((30, 30), -0.5, np.float32)
    with pytest.raises(ValueError, match="'image' parameter of hog must not be negative"):
        hog(negative, transform_sqrt=True)
    assert hog(negative).shape == (81,)  # without the square root, negative values are fine


def test_bad_histograms_are_named():
    with pytest.raises(ValueError, match="'histograms' parameter of hog_normalize"):
        hog_normalize(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="'histograms' parameter of hog_normalize"):
        hog_normalize(np.zeros((4, 4, 9), np.uint8))
    with pytest.raises(TypeError, match="'histograms' parameter of hog_normalize"):
        hog_normalize([[[1.0]]])
    with pytest.raises(ValueError, match="'cells_per_block' parameter of hog_normalize"):
        hog_normalize(np.zeros((2, 4, 9)), (3, 3))


def test_cell_and_block_sizes_read_and_write_their_text_form():
    param = hog_module.PIXELS_PER_CELL
    assert param.check(8, "hog") == (8, 8)
    assert (
        param.parse("6,10") == (6, 10) == param.parse("6x10") == param.parse(param.format((6, 10)))
    )
    assert param.to_plain((6, 10)) == [6, 10]
    with pytest.raises(ValueError, match="'pixels_per_cell' parameter of the pipeline"):
        param.parse("six")


def test_docstring_examples_run():
    for module in (hog_module, importlib.import_module("imgrad.features")):
        result = doctest.testmod(
            module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, report=False
        )
        assert result.failed == 0 and result.attempted >= 1, module.__name__
