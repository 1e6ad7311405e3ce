"""The stack executor: small images of a stack run as one tall image per step.

Run image by image, a stack of thumbnails pays Python's per-call cost for
every step of every image, some 100 times the work of a 28x28 image. Here
the images of a group are laid one under another as one tall image, so each
step runs once per group. Between them go the rows each image's border mode
would add above and below it (``np.pad`` along the rows, before every step
that reads neighbours); the step's own border handling still makes the
columns. Every output pixel thus reads exactly the values it reads in an
image alone, and the columns keep their positions in the rows (so OpenCV's
vector code and scalar tails see the same pixels): the results are
bit-identical to image-by-image runs, which the tests check.

A pipeline that needs whole-image statistics, a step whose border cannot be
padded the same way ("ignore", a non-zero constant, which the step pads in
its output's dtype) or whose halo reaches past an image's rows is refused:
:func:`run_stack` returns None and the caller runs image by image.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from imgrad._validation import parts_of_checked_images
from imgrad.execute import _Shared, default_workers, on_threads
from imgrad.ops import IMAGE

if TYPE_CHECKING:
    from imgrad.ops import Step
    from imgrad.pipeline import Pipeline

__all__ = ["GROUP_PIXELS", "run_stack"]

#: Pixels of the images run together: a float32 plane of a group is 1 MiB, as
#: a strip of the fused executor (10 000 images of 28x28, ``sobel | polar``:
#: 130 ms in groups of 16 K pixels, 62 ms of 64 K, 38 ms of 256 K, 46 ms of 1 M).
GROUP_PIXELS = 1 << 18
#: np.pad modes adding the rows OpenCV's border modes read.
_PAD_MODES = {
    "reflect101": "reflect",
    "reflect": "symmetric",
    "replicate": "edge",
    "constant": "constant",
    "wrap": "wrap",
}


def stackable(step: Step, height: int, width: int) -> bool:
    """True if `step` can run on images of `height` x `width` laid one under another.

    A halo as wide as the image is refused too: how OpenCV makes up borders
    wider than the image differs between its versions (4.8 and 5.x)."""
    halo = step.halo()
    if halo == 0:
        return not step.needs_statistics
    border = step.values.get("border")
    if border not in _PAD_MODES or halo >= height or halo >= width:
        return False
    return border != "constant" or not step.values.get("cval")


def run_stack(
    pipeline: Pipeline,
    stack: np.ndarray,
    *,
    group_pixels: int = GROUP_PIXELS,
    workers: int | None = None,
) -> dict[str, np.ndarray] | None:
    """Run `pipeline` on every image of `stack` (N, H, W[, C]), a group of
    images at a time, on `workers` threads; None if the pipeline cannot run
    this way (see the module notes).

    Returns
    -------
    dict of ndarray or None
        Each output plane stacked, (N, H, W[, C']): bit-identical to running
        the images one by one.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> stack = np.random.default_rng(0).integers(0, 256, (100, 28, 28), dtype=np.uint8)
    >>> planes = run_stack(imgrad.Pipeline.parse("sobel | polar"), stack)
    >>> planes["magnitude"].shape, planes["phase"].dtype
    ((100, 28, 28), dtype('float32'))
    >>> run_stack(imgrad.Pipeline.parse("sobel | magnitude | scale"), stack) is None
    True
    """
    count, height, width = stack.shape[:3]
    if count == 0 or not all(stackable(step, height, width) for step in pipeline.steps):
        return None
    size = max(1, group_pixels // max(1, stack[0].size))
    groups = [(first, min(first + size, count)) for first in range(0, count, size)]
    first = _run_group(pipeline, stack[: groups[0][1]])
    outputs = {
        name: np.empty((count, *plane.shape[1:]), plane.dtype) for name, plane in first.items()
    }
    for name, plane in first.items():
        outputs[name][: len(plane)] = plane
    shared = _Shared(groups[1:])
    workers = min(default_workers() if workers is None else max(1, int(workers)), len(groups))
    on_threads(workers, lambda: _run_groups(pipeline, stack, shared, outputs))
    return outputs


def _run_groups(pipeline, stack, groups, outputs) -> None:
    for first, stop in groups:
        for name, plane in _run_group(pipeline, stack[first:stop]).items():
            outputs[name][first:stop] = plane


def _run_group(pipeline: Pipeline, group: np.ndarray) -> dict[str, np.ndarray]:
    """The pipeline's outputs for a group of images, each (n, H, W[, C'])."""
    count, height = group.shape[:2]
    planes: dict[str, np.ndarray] = {IMAGE: group}
    last_use = pipeline._last_use
    for index, (step, (reads, writes)) in enumerate(
        zip(pipeline.steps, pipeline.routes, strict=True)
    ):
        halo = step.halo()
        inputs = [_tall(planes[name], halo, step) for name in reads]
        with parts_of_checked_images():  # images stacked into one tall image
            results = step.compute(*inputs)
        for name, result in zip(writes, results, strict=True):
            result = result.reshape(count, height + 2 * halo, *result.shape[1:])
            planes[name] = result[:, halo : halo + height] if halo else result
        for name in reads:
            if last_use.get(name, -1) <= index and name not in writes:
                planes.pop(name, None)
    return {name: planes[name] for name in pipeline.outputs}


def _tall(planes: np.ndarray, halo: int, step: Step) -> np.ndarray:
    """(n, H, W, ...) planes as one tall image, each with `halo` rows of its
    border above and below."""
    if halo:
        pad = [(0, 0), (halo, halo), *itertools.repeat((0, 0), planes.ndim - 2)]
        planes = np.pad(planes, pad, mode=_PAD_MODES[step.values["border"]])
    return np.ascontiguousarray(planes).reshape(-1, *planes.shape[2:])
