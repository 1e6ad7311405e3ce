"""The stack executor: every image of a stack in one run of each step.

The reference is the reference executor on each image alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import imgrad
from imgrad import Pipeline
from imgrad._stack import run_stack
from imgrad.execute import run_reference

from .strategies import images, pipelines


def one_by_one(pipe, stack):
    results = [run_reference(pipe, image) for image in stack]
    return {name: np.stack([r[name] for r in results]) for name in pipe.outputs}


@settings(max_examples=800, deadline=None, derandomize=True)
@given(pipelines(extra_outputs=True), images(), st.integers(1, 4), st.integers(1, 3))
def test_stack_equals_image_by_image_bit_for_bit(pipe, image, count, workers):
    rng = np.random.default_rng(count)
    stack = np.stack(
        [
            image,
            *(rng.permutation(image.reshape(-1)).reshape(image.shape) for _ in range(count - 1)),
        ]
    )
    result = run_stack(pipe, stack, group_pixels=2 * image.size + 1, workers=workers)
    event("refused" if result is None else "stacked")
    if result is None:  # not stackable: say why it is right to refuse
        assert pipe.needs_whole_image or any(
            step.halo() >= min(image.shape[:2])
            or step.values.get("border") in ("ignore", None)
            or (step.values.get("border") == "constant" and step.values.get("cval"))
            for step in pipe.steps
            if step.halo()
        ), pipe
        return
    reference = one_by_one(pipe, stack)
    assert result.keys() == reference.keys()
    for name, planes in reference.items():
        assert result[name].dtype == planes.dtype and result[name].shape == planes.shape
        assert result[name].flags.c_contiguous
        np.testing.assert_array_equal(result[name], planes, err_msg=f"{pipe} plane {name}")


@pytest.mark.parametrize(
    "text",
    [
        "sobel | polar",
        "gray | gaussian sigma=1 | sobel | magnitude",
        "scharr border=wrap | phase degrees=true",
        "morph kind=internal size=3 border=replicate",
        "sobel border=constant | polar | colorize max=200",
    ],
)
def test_small_images_run_as_one_stack(text, camera):
    """The usual pipelines on a stack of small images (as a dataset of thumbnails)."""
    pipe = Pipeline.parse(text)
    stack = np.stack([camera[r : r + 28, c : c + 28] for r in (0, 200, 400) for c in (0, 300)])
    if "gray" in text:
        stack = np.repeat(stack[..., None], 3, axis=3)
    result = run_stack(pipe, stack)
    assert result is not None
    reference = one_by_one(pipe, stack)
    for name, planes in reference.items():
        np.testing.assert_array_equal(result[name], planes)


@pytest.mark.parametrize(
    "text",
    [
        "sobel | magnitude | scale",  # whole-image statistics
        "morph size=5",  # the "ignore" border cannot be padded
        "sobel border=constant cval=7",  # padded in the output's dtype by the step itself
        "gaussian sigma=20",  # reaches past the 28 rows of an image
    ],
)
def test_what_cannot_run_as_one_stack_is_refused(text, camera):
    stack = np.stack([camera[:28, :28], camera[28:56, :28]])
    assert run_stack(Pipeline.parse(text), stack) is None


def test_map_uses_it_for_small_images_and_gives_the_same_planes(camera):
    pipe = Pipeline.parse("gaussian sigma=1 | sobel | polar")
    stack = np.stack([camera[r : r + 32, :48] for r in range(0, 320, 32)])
    mapped = pipe.map(stack)
    for i, image in enumerate(stack):
        for name, plane in pipe(image).items():
            np.testing.assert_array_equal(mapped[name][i], plane)
    assert imgrad.Pipeline.parse("sobel").map(stack)["gx"].shape == (10, 32, 48)
