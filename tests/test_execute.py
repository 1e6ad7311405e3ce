"""The fused, strip-by-strip executor gives the reference executor's bits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgrad
from imgrad import Pipeline
from imgrad.execute import _run_steps, run_fused, run_reference, strip_rows

from .strategies import images, pipelines


@settings(max_examples=300, deadline=None, derandomize=True)
@given(pipelines(), images(), st.integers(1, 12), st.integers(1, 3))
def test_fused_equals_reference_bit_for_bit(pipe, image, rows, workers):
    reference = run_reference(pipe, image)
    fused = run_fused(pipe, image, rows=rows, workers=workers)
    assert fused.keys() == reference.keys()
    for name, plane in reference.items():
        assert fused[name].dtype == plane.dtype
        assert fused[name].shape == plane.shape
        np.testing.assert_array_equal(fused[name], plane, err_msg=f"{pipe} plane {name}")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(pipelines(extra_outputs=True), images())
def test_no_plane_is_wider_than_the_one_strip_bound(pipe, image):
    """Small images skip the strip planning on the bound that no plane holds more
    than 8 bytes times max(channels, 3) per pixel: every step keeps to it."""
    seen: list = []
    _run_steps(pipe, image, seen)
    channels = image.shape[2] if image.ndim == 3 else 1
    for _, results in seen:
        for plane in results:
            assert math.prod(plane.shape[2:]) * plane.itemsize <= 8 * max(channels, 3), pipe


@pytest.mark.parametrize(
    "text",
    [
        "sobel | polar",
        "gray | gaussian sigma=1.5 | sobel ksize=5 | polar degrees=true convention=math",
        "gaussian sigma=3 border=reflect | prewitt border=replicate | polar wrap=signed",
        "gray | morph kind=basic name=b | morph kind=external footprint=ellipse size=7 name=e "
        "| scharr | magnitude | scale method=range low=0 high=900 -> b,e,magnitude,gx",
        "gray | gaussian sigma=2 name=s | sobel input=s | magnitude | morph input=s "
        "-> magnitude,morph,s",
    ],
)
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_fused_on_real_photos(text, workers, astronaut):
    pipe = Pipeline.parse(text)
    for image in (astronaut, astronaut.astype(np.float32) / 255):
        reference = run_reference(pipe, image)
        for rows in (1, 5, 32, 1000):
            fused = run_fused(pipe, image, rows=rows, workers=workers)
            for name in reference:
                np.testing.assert_array_equal(fused[name], reference[name])


def test_whole_image_pipelines_run_fused_up_to_the_whole_image_step(camera):
    for text in (
        "sobel | magnitude | scale",
        "sobel border=wrap | polar",
        "gaussian sigma=1 | sobel | magnitude | scale -> image,gx,magnitude",
        "gray | sobel | polar | colorize",
    ):
        pipe = Pipeline.parse(text)
        assert pipe.needs_whole_image
        fused = run_fused(pipe, camera, rows=8, workers=2)
        reference = run_reference(pipe, camera)
        for name in reference:
            np.testing.assert_array_equal(fused[name], reference[name])


def test_calling_a_pipeline_uses_the_fused_executor_and_returns_fresh_arrays(camera):
    pipe = Pipeline.parse("gray | sobel | polar -> magnitude,phase,image")
    image = camera.copy()
    out = pipe(image)
    reference = run_reference(pipe, image)
    for name in reference:
        np.testing.assert_array_equal(out[name], reference[name])
        assert not np.shares_memory(out[name], image)
    np.testing.assert_array_equal(image, camera)


def test_strip_rows_policy():
    wide = np.zeros((2160, 3840), np.uint8)
    pipe = Pipeline.parse("sobel | polar")
    rows = strip_rows(wide, pipe)
    assert 8 <= rows <= 128  # a strip plane of about 1 MiB
    big_halo = Pipeline.parse("gaussian sigma=8 | sobel")
    assert strip_rows(wide, big_halo) >= 4 * big_halo.halo
    # The planes computed set the size: grey planes of a colour input, not its channels.
    colour = np.zeros((2160, 3840, 3), np.uint8)
    assert strip_rows(colour, Pipeline.parse("gray | sobel | polar")) == rows
    assert strip_rows(colour, pipe) == max(8, rows // 3)
    with pytest.raises(ValueError, match="'rows'"):
        run_fused(pipe, wide, rows=0)


def test_fused_does_not_modify_or_alias_its_input(camera):
    image = camera.copy()
    image.flags.writeable = False
    out = run_fused(Pipeline.parse("gray -> image"), image, rows=7, workers=2)
    assert not np.shares_memory(out["image"], image)
    np.testing.assert_array_equal(out["image"], camera)


def test_out_parameters_write_in_place(camera):
    """The operators' out= arguments, which the fused executor relies on."""
    gx, gy = np.empty(camera.shape, np.float32), np.empty(camera.shape, np.float32)
    g = imgrad.sobel(camera, out=(gx, gy))
    assert g.gx is gx and g.gy is gy
    np.testing.assert_array_equal(gx, imgrad.sobel(camera).gx)
    m, p = np.empty_like(gx), np.empty_like(gx)
    polar = imgrad.polar(gx, gy, out=(m, p))
    assert polar.magnitude is m and polar.phase is p
    reference = imgrad.polar(gx, gy)
    np.testing.assert_array_equal(m, reference.magnitude)
    np.testing.assert_array_equal(p, reference.phase)
    morph = np.empty_like(camera)
    assert imgrad.morph_gradient(camera, "external", out=morph) is morph
    np.testing.assert_array_equal(morph, imgrad.morph_gradient(camera, "external"))
    smooth = np.empty(camera.shape, np.float32)
    assert imgrad.gaussian(camera, 2.0, out=smooth) is smooth
    np.testing.assert_array_equal(smooth, imgrad.gaussian(camera, 2.0))
    with pytest.raises(ValueError, match=r"'out' parameter of sobel .* shape \(512, 512\)"):
        imgrad.sobel(camera, out=(gx[:10], gy))
    with pytest.raises(ValueError, match="float32"):
        imgrad.magnitude(gx, gy, out=np.empty(gx.shape, np.float64))


@pytest.mark.parametrize("text", ["gray | sobel | polar", "sobel border=wrap | magnitude"])
def test_run_fused_writes_into_out_when_given(text, astronaut):
    pipe = Pipeline.parse(text)
    reference = run_reference(pipe, astronaut)
    out = {name: np.full_like(plane, 7) for name, plane in reference.items()}
    result = run_fused(pipe, astronaut, rows=16, workers=2, out=out)
    for name, plane in reference.items():
        assert result[name] is out[name]
        np.testing.assert_array_equal(out[name], plane)
    wrong = {**out, next(iter(out)): np.zeros((3, 3), np.float32)}
    with pytest.raises(ValueError, match=r"'out' parameter of run_fused"):
        run_fused(pipe, astronaut, out=wrong)
