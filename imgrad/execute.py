"""Executors: how a pipeline runs, kept apart from what it is.

Two executors give the same bits:

- :func:`run_reference` runs each step on whole planes, in order, dropping
  each intermediate plane after its last reader. It is the definition every
  faster executor (fused, tiled, Dask) is tested against.
- :func:`run_fused` runs the whole pipeline strip by strip — a band of rows
  plus the pipeline's halo above and below — so the intermediate planes of a
  strip stay in the CPU cache and only the planes asked for are written to
  full-size memory. Strips are spread over threads (OpenCV and NumPy release
  the GIL). Every output row is computed from exactly the pixels the whole
  image would give it, and at the image's real top and bottom the border rule
  applies as usual, so the result is bit-identical to the reference.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from imgrad._validation import check_image
from imgrad.ops import IMAGE

if TYPE_CHECKING:
    from imgrad.pipeline import Pipeline

__all__ = ["default_workers", "run_fused", "run_reference", "strip_rows"]

#: Bytes of one float32 strip plane the fused executor aims for. Smaller
#: strips fit the L2 cache better but pay Python's per-call overhead (about
#: 0.1 ms a strip) more often; 1 MiB (64 rows of a 4K image) measured best.
STRIP_BYTES = 1024 * 1024


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
    planes = _run_steps(pipeline, image)
    return {
        name: planes[name].copy() if np.shares_memory(planes[name], image) else planes[name]
        for name in pipeline.outputs
    }


def run_fused(
    pipeline: Pipeline,
    image: np.ndarray,
    *,
    rows: int | None = None,
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Run `pipeline` on one image strip by strip, on `workers` threads.

    Parameters
    ----------
    pipeline : Pipeline
    image : ndarray, (H, W) or (H, W, C)
    rows : int, optional
        Output rows per strip; by default chosen so a strip plane is about
        256 KiB (see :func:`strip_rows`).
    workers : int, optional
        Threads; default :func:`default_workers`. 1 runs in the calling thread.

    Returns
    -------
    dict of ndarray
        Bit-identical to :func:`run_reference`, as fresh arrays.

    Notes
    -----
    A pipeline with a step that needs whole-image statistics (``scale
    method=minmax``) or a ``wrap`` border runs on whole planes instead, and so
    does one whose only neighbourhood steps work in strips themselves
    (morphology).

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> pipe = imgrad.Pipeline.parse("gaussian sigma=2 | sobel | polar")
    >>> image = np.random.default_rng(0).integers(0, 256, (300, 200), dtype=np.uint8)
    >>> fused, reference = run_fused(pipe, image, rows=16), run_reference(pipe, image)
    >>> all(np.array_equal(fused[k], reference[k]) for k in reference)
    True
    """
    check_image(image, where="the pipeline")
    height = image.shape[0]
    rows = strip_rows(image, pipeline) if rows is None else int(rows)
    if rows < 1:
        raise ValueError(f"The 'rows' parameter of run_fused must be >= 1. Got {rows} instead.")
    if pipeline.needs_whole_image or rows >= height or _strips_itself(pipeline):
        return run_reference(pipeline, image)
    workers = default_workers() if workers is None else max(1, int(workers))
    bands = [(top, min(top + rows, height)) for top in range(0, height, rows)]
    capacity = rows + 2 * pipeline.halo  # rows of the tallest strip

    # A tiny corner of the image tells every output plane's dtype and channels.
    corner = image[
        : min(height, 2 * pipeline.halo + 2), : min(image.shape[1], 2 * pipeline.halo + 2)
    ]
    outputs = {
        name: np.empty((height, image.shape[1], *plane.shape[2:]), plane.dtype)
        for name, plane in _run_steps(pipeline, corner).items()
        if name in pipeline.outputs
    }

    def run_group(group: list[tuple[int, int]], workspace: dict) -> None:
        # Each thread reuses its own strip buffers: no allocation per strip.
        for band in group:
            _run_strip(pipeline, image, *band, workspace, capacity, outputs)

    groups = [
        bands[i * len(bands) // workers : (i + 1) * len(bands) // workers] for i in range(workers)
    ]
    groups = [g for g in groups if g]
    if len(groups) == 1:
        run_group(bands, {})
    else:
        futures = [_pool(len(groups)).submit(run_group, g, {}) for g in groups]
        for future in futures:
            future.result()
    return outputs


def strip_rows(image: np.ndarray, pipeline: Pipeline) -> int:
    """Output rows per strip: a strip plane of about ``STRIP_BYTES``, and at least
    four times the halo so recomputed halo rows stay a small overhead."""
    row_bytes = 4 * int(np.prod(image.shape[1:]))
    return max(8, 4 * pipeline.halo, STRIP_BYTES // max(row_bytes, 1))


def default_workers() -> int:
    """Threads for the fused executor: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- internals -------------------------------------------------------------------

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of `workers` threads, started once (starting threads for
    every image would cost more than a small image's work)."""
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="imgrad")
        return _pools[workers]


def _strips_itself(pipeline: Pipeline) -> bool:
    """Every neighbourhood step already works in strips on threads (e.g. morphology)."""
    return all(step.strips_itself or step.halo() == 0 for step in pipeline.steps)


def _run_steps(pipeline: Pipeline, image: np.ndarray) -> dict[str, np.ndarray]:
    """All steps on whole planes; returns the planes alive at the end (the outputs)."""
    planes: dict[str, np.ndarray] = {IMAGE: image}
    last_use = pipeline._last_use
    steps = zip(pipeline.steps, pipeline.routes, strict=True)
    for index, (step, (reads, writes)) in enumerate(steps):
        results = step.compute(*(planes[name] for name in reads))
        planes.update(zip(writes, results, strict=True))
        for name in reads:
            if last_use.get(name, -1) <= index and name not in writes:
                planes.pop(name, None)
    return planes


def _run_strip(pipeline, image, top, bottom, workspace, capacity, outputs=None):
    """Compute output rows ``top:bottom``; into `outputs` if given, else return them.

    Step k only computes the rows that later steps can still reach:
    ``top - reach .. bottom + reach`` with ``reach`` the halos of the steps
    after it; its inputs are cut to that band widened by its own halo. A
    pointwise step with nothing after it thus works on ``top:bottom`` alone
    and writes straight into the output arrays. Other steps write into this
    thread's `workspace` buffers (`capacity` rows), reused from strip to strip.
    """
    height = image.shape[0]
    planes: dict[str, tuple[np.ndarray, int]] = {IMAGE: (image, 0)}  # plane, first row
    last_use = pipeline._last_use
    reach = pipeline.halo
    steps = zip(pipeline.steps, pipeline.routes, strict=True)
    for index, (step, (reads, writes)) in enumerate(steps):
        halo = step.halo()
        reach -= halo  # what the steps after this one still read around a row
        start, stop = max(0, top - reach - halo), min(height, bottom + reach + halo)
        inputs = [
            planes[name][0][start - planes[name][1] : stop - planes[name][1]] for name in reads
        ]
        direct = (
            reach == 0
            and halo == 0
            and outputs is not None
            and all(name in outputs and pipeline._last_writer[name] == index for name in writes)
        )
        out = _destination(workspace, index, writes, outputs, start, stop, direct)
        results = step.compute(*inputs, out=out)
        if out is None:
            workspace[index] = tuple(np.empty((capacity, *r.shape[1:]), r.dtype) for r in results)
        planes.update({name: (r, start) for name, r in zip(writes, results, strict=True)})
        for name in reads:
            if last_use.get(name, -1) <= index and name not in writes:
                planes.pop(name, None)
    result = {}
    for name in pipeline.outputs:
        plane, first = planes[name]
        core = plane[top - first : bottom - first]
        if outputs is None:
            result[name] = core
        elif not np.shares_memory(core, outputs[name]):
            outputs[name][top:bottom] = core
    return result


def _destination(workspace, index, writes, outputs, start, stop, direct):
    """Where step `index` writes: the output arrays themselves, or workspace buffers."""
    if direct:
        return tuple(outputs[name][start:stop] for name in writes)
    buffers = workspace.get(index)
    return None if buffers is None else tuple(b[: stop - start] for b in buffers)
