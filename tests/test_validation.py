"""Arrays users pass, checked once for every operator: layout, byte order, array types.

Every case goes through the public operators (a derivative, magnitude, morphology and a
pipeline), which all check their images in one place (:mod:`imgrad._validation`).
"""

from __future__ import annotations

import numpy as np
import pytest

import imgrad
from imgrad import Pipeline

OPERATORS = {
    "sobel": lambda image: imgrad.sobel(image),
    "magnitude": lambda image: imgrad.magnitude(image, image),
    "morph_gradient": lambda image: imgrad.morph_gradient(image),
    "pipeline": lambda image: Pipeline.parse("gray | sobel | polar")(image),
}
WHERE = {
    "sobel": "sobel",
    "magnitude": "magnitude",
    "morph_gradient": "morph_gradient",
    "pipeline": "the pipeline",
}


def random_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 50).astype(dtype)


def planes(result):
    """The arrays an operator returned, as a list."""
    if isinstance(result, dict):
        return list(result.values())
    return [result] if isinstance(result, np.ndarray) else list(result)


def message_of(operator, image, error):
    with pytest.raises(error) as info:
        OPERATORS[operator](image)
    message = str(info.value)
    assert "\n" not in message
    assert f"parameter of {WHERE[operator]} " in message
    return message


# --- channel-first arrays ---------------------------------------------------------------


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("shape", [(3, 40, 50), (1, 30, 30), (4, 64, 48), (2, 5, 5)])
def test_channel_first_arrays_are_refused_with_the_fix(operator, shape):
    message = message_of(operator, random_image(shape, np.float32), ValueError)
    assert f"{shape}" in message
    param = "gx" if operator == "magnitude" else "image"
    assert f"np.moveaxis({param}, 0, -1)" in message
    assert "(H, W, C)" in message


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_the_fix_the_message_gives_works(operator):
    channels_last = random_image((40, 50, 3), np.uint8)
    channels_first = np.ascontiguousarray(np.moveaxis(channels_last, -1, 0))
    expected = planes(OPERATORS[operator](channels_last))
    got = planes(OPERATORS[operator](np.moveaxis(channels_first, 0, -1)))
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(64, 48, 8), (5, 5, 5), (128, 96, 31), (3, 4, 4), (4, 4, 4)])
def test_many_channel_and_tiny_images_are_still_accepted(shape):
    # Multispectral (H, W, C) with H > 4, and tiny images whose last axis is <= 4.
    image = random_image(shape, np.uint16, seed=1)
    g = imgrad.sobel(image)
    assert g.gx.shape == shape
    assert imgrad.morph_gradient(image).shape == shape
    assert imgrad.magnitude(g.gx, g.gy).shape == shape
    assert Pipeline.parse("sobel | polar")(image)["magnitude"].shape == shape


def test_many_channel_images_in_strips_and_stacks_are_accepted():
    # The executors run steps on strips a few rows high: those are no channel-first arrays.
    image = random_image((203, 37, 6), np.float32, seed=2)
    pipe = Pipeline.parse("gaussian sigma=1 | sobel | polar")
    from imgrad.execute import run_fused, run_reference

    fused, reference = run_fused(pipe, image, rows=3, workers=2), run_reference(pipe, image)
    for name in reference:
        np.testing.assert_array_equal(fused[name], reference[name])
    stack = np.stack([image[:5, :9], image[5:10, :9]])  # (2, 5, 9, 6): one tall image
    planes = Pipeline.parse("sobel | magnitude").map(stack)
    np.testing.assert_array_equal(
        planes["magnitude"][1], Pipeline.parse("sobel | magnitude")(stack[1])["magnitude"]
    )


# --- byte order ---------------------------------------------------------------------------


BIG_ENDIAN = [">u2", ">i2", ">f4", ">f8"]


@pytest.mark.parametrize("dtype", BIG_ENDIAN)
@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_big_endian_arrays_give_the_native_results(dtype, operator):
    native = random_image((37, 29, 3), np.dtype(dtype).newbyteorder("="), seed=3)
    swapped = native.astype(dtype)
    before = swapped.copy()
    expected, got = planes(OPERATORS[operator](native)), planes(OPERATORS[operator](swapped))
    for a, b in zip(expected, got, strict=True):
        assert b.dtype.isnative and b.dtype == a.dtype
        np.testing.assert_array_equal(a, b)
    assert swapped.dtype == np.dtype(dtype)  # the input is never modified
    np.testing.assert_array_equal(swapped, before)


@pytest.mark.parametrize("dtype", BIG_ENDIAN)
def test_big_endian_arrays_in_the_other_operators(dtype, tmp_path):
    native = random_image((20, 24), np.dtype(dtype).newbyteorder("="), seed=4)
    swapped = native.astype(dtype)
    for function in (imgrad.gaussian, imgrad.gray, imgrad.scale):
        np.testing.assert_array_equal(function(swapped), function(native))
    for kind in ("internal", "external"):
        np.testing.assert_array_equal(
            imgrad.morph_gradient(swapped, kind, footprint="ellipse", size=31, border="wrap"),
            imgrad.morph_gradient(native, kind, footprint="ellipse", size=31, border="wrap"),
        )
    imgrad.write(tmp_path / "a.npy", swapped)
    np.testing.assert_array_equal(imgrad.read(tmp_path / "a.npy"), native)
    if native.dtype.kind == "u":
        imgrad.write(tmp_path / "a.png", swapped)
        np.testing.assert_array_equal(imgrad.read(tmp_path / "a.png"), native)


# --- array types ----------------------------------------------------------------------------


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_masked_arrays_are_refused_naming_the_ways(operator):
    image = np.ma.masked_less(random_image((20, 20), np.float32), 0)
    message = message_of(operator, image, TypeError)
    assert "masked array" in message
    param = "gx" if operator == "magnitude" else "image"
    assert f"{param}.filled(value)" in message
    assert f"np.asarray({param})" in message


def duck(module, name):
    """An array-like of a library imgrad does not import: its module is what counts."""
    cls = type(name, (), {"__module__": module, "shape": (8, 8), "dtype": np.dtype(np.uint8)})
    return cls()


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize(
    ("image", "fix"),
    [
        pytest.param(duck("PIL.PngImagePlugin", "PngImageFile"), "np.asarray(image)", id="PIL"),
        pytest.param(duck("dask.array.core", "Array"), "imgrad.dask.apply(", id="dask"),
        pytest.param(duck("xarray.core.dataarray", "DataArray"), ".values", id="xarray"),
        pytest.param([[1, 2], [3, 4]], "np.asarray(image)", id="list"),
        pytest.param(((1, 2), (3, 4)), "np.asarray(image)", id="tuple"),
    ],
)
def test_other_array_types_are_refused_naming_the_way_that_works(operator, image, fix):
    message = message_of(operator, image, TypeError)
    assert "NumPy array" in message
    assert fix in message


def test_a_real_pil_image_is_refused_and_np_asarray_works():
    from PIL import Image

    pixels = random_image((12, 10), np.uint8)
    with pytest.raises(TypeError, match=r"np\.asarray\(image\)"):
        imgrad.sobel(Image.fromarray(pixels))
    np.testing.assert_array_equal(
        imgrad.sobel(np.asarray(Image.fromarray(pixels))).gx, imgrad.sobel(pixels).gx
    )


def test_a_real_dask_array_is_refused_and_imgrad_dask_apply_works():
    da = pytest.importorskip("dask.array")
    image = random_image((30, 20), np.uint8)
    with pytest.raises(TypeError, match=r"imgrad\.dask\.apply\(pipeline, array\)"):
        imgrad.sobel(da.from_array(image))
    bridge = pytest.importorskip("imgrad.dask")
    planes = bridge.apply("sobel | magnitude", da.from_array(image, chunks=7))
    np.testing.assert_array_equal(
        planes["magnitude"].compute(), Pipeline.parse("sobel | magnitude")(image)["magnitude"]
    )


def test_dask_apply_refuses_channel_first_arrays():
    da = pytest.importorskip("dask.array")
    bridge = pytest.importorskip("imgrad.dask")
    with pytest.raises(ValueError, match=r"np\.moveaxis\(array, 0, -1\)"):
        bridge.apply("sobel", da.zeros((3, 40, 50), np.uint8))
    native = random_image((40, 50), np.uint16)
    swapped = da.from_array(native.astype(">u2"), chunks=16)
    got = bridge.apply("morph | scale", swapped)["morph"].compute()
    np.testing.assert_array_equal(got, Pipeline.parse("morph | scale")(native)["morph"])
