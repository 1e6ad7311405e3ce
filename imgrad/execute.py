"""Executors: how a pipeline runs, kept apart from what it is.

The reference executor runs each step on whole planes, in order, dropping
each intermediate plane after its last reader. It is the definition every
faster executor (fused, tiled, Dask) is tested against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from imgrad._validation import check_image
from imgrad.ops import IMAGE

if TYPE_CHECKING:
    from imgrad.pipeline import Pipeline

__all__ = ["run_reference"]


def run_reference(pipeline: Pipeline, image: np.ndarray) -> dict[str, np.ndarray]:
    """Run `pipeline` on one image, step by step on whole planes.

    Returns fresh arrays: the input image is never modified nor returned
    itself (a plane equal to the input, e.g. ``image`` after a no-op ``gray``,
    is a copy).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> out = run_reference(imgrad.Pipeline.parse("sobel | magnitude"), np.eye(4))
    >>> list(out), out["magnitude"].dtype
    (['magnitude'], dtype('float64'))
    """
    check_image(image, where="the pipeline")
    planes: dict[str, np.ndarray] = {IMAGE: image}
    last_use = pipeline._last_use
    steps = zip(pipeline.steps, pipeline.routes, strict=True)
    for index, (step, (reads, writes)) in enumerate(steps):
        results = step.compute(*(planes[name] for name in reads))
        planes.update(zip(writes, results, strict=True))
        for name in reads:
            if last_use.get(name, -1) <= index and name not in writes:
                planes.pop(name, None)
    return {
        name: planes[name].copy()
        if planes[name] is image or planes[name].base is image
        else planes[name]
        for name in pipeline.outputs
    }
