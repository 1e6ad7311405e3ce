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

The fused executor runs *stages*: one step each, or a derivative step and
the magnitude/phase step reading it as one kernel (:mod:`imgrad._fusion`).
While its threads compute, one of them first faults in the pages of the
fresh output arrays, ahead of the others (see ``_touch``).
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from imgrad._fusion import SobelThen, fusable
from imgrad._scratch import scratch
from imgrad._validation import check_image, check_out, parts_of_checked_images
from imgrad.ops import IMAGE

if TYPE_CHECKING:
    from imgrad.pipeline import Pipeline

__all__ = ["default_workers", "run_fused", "run_reference", "strip_rows"]

#: Bytes of a strip of the widest plane the fused executor aims for. Smaller
#: strips fit the L2 cache better but pay Python's per-strip overhead (some
#: 30 to 60 us) more often; 1 MiB (64 float32 rows of a 4K image) measured best.
STRIP_BYTES = 1024 * 1024
#: The smallest memory page size (bytes) of common systems.
PAGE = 4096
#: Bytes of each plane whose pages are faulted in per call (see ``_touch``).
TOUCH_BYTES = 4 * 1024 * 1024


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
    image = check_image(image, where="the pipeline")
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
    out: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Run `pipeline` on one image strip by strip, on `workers` threads.

    Parameters
    ----------
    pipeline : Pipeline
    image : ndarray, (H, W) or (H, W, C)
    rows : int, optional
        Output rows per strip; by default chosen so a strip plane is about
        1 MiB (see :func:`strip_rows`).
    workers : int, optional
        Threads; default :func:`default_workers`. 1 runs in the calling thread.
    out : dict of ndarray, optional
        An array for each output plane, of the shape and dtype it will have
        (writeable, C-contiguous), to write the results into; e.g. one
        image's slices of stacks (:meth:`Pipeline.map`).

    Returns
    -------
    dict of ndarray
        Bit-identical to :func:`run_reference`, as fresh arrays (or `out`'s).

    Notes
    -----
    A pipeline with a step that needs whole-image statistics (``scale
    method=minmax``) or a ``wrap`` border runs fused up to that step, then on
    whole planes. One whose only neighbourhood steps work in strips
    themselves (morphology) runs on whole planes.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> pipe = imgrad.Pipeline.parse("gaussian sigma=2 | sobel | polar")
    >>> image = np.random.default_rng(0).integers(0, 256, (300, 200), dtype=np.uint8)
    >>> fused, reference = run_fused(pipe, image, rows=16), run_reference(pipe, image)
    >>> all(np.array_equal(fused[k], reference[k]) for k in reference)
    True
    """
    image = check_image(image, where="the pipeline")
    height = image.shape[0]
    if rows is not None and int(rows) < 1:
        raise ValueError(f"The 'rows' parameter of run_fused must be >= 1. Got {rows} instead.")
    if height == 1 or _strips_itself(pipeline) or (rows is None and _one_strip_at_most(image)):
        return _into(run_reference(pipeline, image), out)
    if pipeline.needs_whole_image:
        return _into(_run_split(pipeline, image, rows, workers), out)
    seen: list = []
    corner_outputs = _run_corner(pipeline, image, seen)
    rows = _strip_rows(image, pipeline, seen) if rows is None else int(rows)
    if rows >= height:
        return _into(run_reference(pipeline, image), out)
    workers = default_workers() if workers is None else max(1, int(workers))
    bands = [(top, min(top + rows, height)) for top in range(0, height, rows)]
    like = {  # (shape, dtype) of each output
        name: ((height, image.shape[1], *plane.shape[2:]), plane.dtype)
        for name, plane in corner_outputs.items()
        if name in pipeline.outputs
    }
    if out is None:
        outputs = {name: np.empty(shape, dtype) for name, (shape, dtype) in like.items()}
    else:
        outputs = {name: _checked_out(out, name, *like[name]) for name in like}
    plan = _Plan(pipeline, seen, rows, image.shape[1])

    workers = min(workers, len(bands))
    if workers == 1:
        _run_strips(plan, image, iter(bands), outputs)
        return outputs
    # Threads take strips in order from one shared iterator. Fresh output
    # memory costs a page fault per page on first write, and faults taken by
    # two threads at once mostly wait for each other; so one thread first
    # touches the pages of every strip, top to bottom, ahead of the others,
    # then joins them.
    shared = _Shared(bands)
    on_threads(
        workers,
        lambda: _run_strips(plan, image, shared, outputs),
        first=lambda: _touch(outputs, bands),
    )
    return outputs


def on_threads(workers: int, work: Callable[[], None], first: Callable[[], None] | None = None):
    """Call `work()` on `workers` threads at once, this one included (after
    `first()`, when given), and return when all are done; the calls share
    their items through a :class:`_Shared` iterator. The first exception
    raised is raised here."""
    jobs = [_pool(workers - 1).submit(work) for _ in range(workers - 1)]
    try:
        if first is not None:
            first()
        work()
    finally:
        for job in jobs:  # never return while a thread still writes
            job.exception()
    for job in jobs:
        job.result()


def _run_split(pipeline: Pipeline, image: np.ndarray, rows, workers) -> dict[str, np.ndarray]:
    """A pipeline with a step that needs the whole image (statistics, a wrap
    border): the steps before the first such step run fused, the rest on
    whole planes."""
    from imgrad.pipeline import Pipeline

    split = next(i for i, step in enumerate(pipeline.steps) if step.needs_whole_image)
    planes = {IMAGE: image}
    if split:
        later = {name for reads, _ in pipeline.routes[split:] for name in reads}
        written = {name for _, writes in pipeline.routes[:split] for name in writes}
        before = Pipeline(pipeline.steps[:split])
        needed = [n for n in before.planes if n in written and n in later | set(pipeline.outputs)]
        if needed:
            head = before.with_outputs(needed)
            planes.update(run_fused(head, image, rows=rows, workers=workers))
    planes = _run_steps(pipeline, image, planes=planes, start=split)
    return {
        name: planes[name].copy() if np.shares_memory(planes[name], image) else planes[name]
        for name in pipeline.outputs
    }


def _checked_out(out: dict, name: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    return check_out(out.get(name), shape, dtype, where=f"run_fused (plane {name!r})")


def _into(planes: dict[str, np.ndarray], out: dict | None) -> dict[str, np.ndarray]:
    """`planes`, copied into `out`'s arrays when given."""
    if out is None:
        return planes
    targets = {name: _checked_out(out, name, p.shape, p.dtype) for name, p in planes.items()}
    for name, plane in planes.items():
        np.copyto(targets[name], plane)
    return targets


def strip_rows(image: np.ndarray, pipeline: Pipeline) -> int:
    """Output rows per strip: a strip of the widest plane the pipeline computes
    (in bytes: channels and dtype) of about ``STRIP_BYTES``, and at least four
    times the halo so recomputed halo rows stay a small overhead."""
    seen: list = []
    _run_corner(pipeline, check_image(image, where="the pipeline"), seen)
    return _strip_rows(image, pipeline, seen)


def _strip_rows(image, pipeline, seen) -> int:
    widest = max(
        math.prod(plane.shape[2:]) * plane.itemsize for _, results in seen for plane in results
    )
    row_bytes = image.shape[1] * widest
    return max(8, 4 * pipeline.halo, STRIP_BYTES // max(row_bytes, 1))


def _one_strip_at_most(image: np.ndarray) -> bool:
    """True if the image is surely one strip, whatever the pipeline: its widest
    plane holds at most 8 bytes (float64) times max(channels, 3) per pixel (a
    colour map has 3 channels). Such images skip the corner run and go
    straight to the reference executor, which is what strips would do."""
    channels = max(3, image.shape[2] if image.ndim == 3 else 1)
    return image.shape[0] * image.shape[1] * 8 * channels <= STRIP_BYTES


def _run_corner(pipeline: Pipeline, image: np.ndarray, seen: list) -> dict[str, np.ndarray]:
    """The pipeline on a tiny corner of `image`: it tells every plane's dtype and
    channels (appended to `seen`, see :func:`_run_steps`)."""
    size = 2 * pipeline.halo + 2
    return _run_steps(pipeline, image[:size, :size], seen)


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


def _run_steps(
    pipeline: Pipeline,
    image: np.ndarray,
    seen: list | None = None,
    *,
    planes: dict[str, np.ndarray] | None = None,
    start: int = 0,
) -> dict[str, np.ndarray]:
    """All steps on whole planes; returns the planes alive at the end (the outputs).

    With `seen`, appends the planes each step read and wrote (the fused
    executor plans from a tiny corner this way). With `start`, runs the
    steps from that one on, given the `planes` they read."""
    planes = {IMAGE: image} if planes is None else dict(planes)
    last_use = pipeline._last_use
    steps = zip(pipeline.steps[start:], pipeline.routes[start:], strict=True)
    for index, (step, (reads, writes)) in enumerate(steps, start):
        inputs = tuple(planes[name] for name in reads)
        with parts_of_checked_images():  # a corner, or a whole image checked before
            results = step.compute(*inputs)
        if seen is not None:
            seen.append((inputs, results))
        planes.update(zip(writes, results, strict=True))
        for name in reads:
            if last_use.get(name, -1) <= index and name not in writes:
                planes.pop(name, None)
    return planes


class _Stage(NamedTuple):
    """One step of a strip, or two fused (see :mod:`imgrad._fusion`).

    ``kernel(inputs, out, skip_top, skip_bottom)`` returns the planes for
    the input band; a stage that ``crops`` leaves out its first `skip_top`
    and last `skip_bottom` rows (the others always get 0, 0).
    """

    kernel: Callable
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    halo: int
    crops: bool


class _Plan:
    """The stages of one fused run, and where each plane is last read and written."""

    def __init__(self, pipeline: Pipeline, seen: list, rows: int, width: int):
        steps, routes = pipeline.steps, pipeline.routes
        last_use = pipeline._last_use
        stages: list[_Stage] = []
        #: dtype and (width, ...) of a row of each plane a stage writes
        self.rows_like: list[list[tuple[np.dtype, tuple[int, ...]]]] = []
        index = 0
        while index < len(steps):
            step, (reads, writes) = steps[index], routes[index]
            if index + 1 < len(steps) and _fuses(pipeline, index, seen[index][0][0]):
                index += 1
                kernel = SobelThen(step, steps[index])
                stages.append(_Stage(kernel, reads, routes[index][1], kernel.halo, True))
            else:
                stages.append(_Stage(_step_kernel(step), reads, writes, step.halo(), False))
            self.rows_like.append(
                [(plane.dtype, (width, *plane.shape[2:])) for plane in seen[index][1]]
            )
            index += 1
        self.stages = stages
        self.halo = pipeline.halo
        self.outputs = pipeline.outputs
        self.capacity = rows + 2 * pipeline.halo  # rows of the tallest strip
        self.last_use = {name: -1 for name in last_use}
        self.last_writer: dict[str, int] = {}
        for number, stage in enumerate(stages):
            for name in stage.reads:
                self.last_use[name] = number
            for name in stage.writes:
                self.last_writer[name] = number
        for name in self.outputs:
            self.last_use[name] = len(stages)
        # dtype and shape of a strip row of every plane written


def _fuses(pipeline: Pipeline, index: int, image: np.ndarray) -> bool:
    """Step `index` and the next one can run as one fused stage."""
    (_, writes), (next_reads, _) = pipeline.routes[index], pipeline.routes[index + 1]
    return (
        next_reads == writes
        and all(pipeline._last_use.get(name, -1) == index + 1 for name in writes)
        and fusable(pipeline.steps[index], pipeline.steps[index + 1], image)
    )


def _step_kernel(step):
    def kernel(inputs, out, skip_top, skip_bottom):
        return step.compute(*inputs, out=out)

    return kernel


class _Shared:
    """An iterator several threads can take items from, each item once."""

    def __init__(self, items):
        self._items = iter(items)
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._items)


def _run_strips(plan, image, bands, outputs) -> None:
    """Run the strips `bands` yields (an iterator other threads may share)."""
    workspace: dict = {}  # this thread's strip buffers, reused from strip to strip
    with parts_of_checked_images():
        for band in bands:
            _run_strip(plan, image, *band, workspace, outputs)


def _touch(outputs: dict[str, np.ndarray], bands: list[tuple[int, int]]) -> None:
    """Fault in the memory pages of the outputs, top to bottom, so the threads
    computing find them ready.

    Linux's ``madvise(MADV_POPULATE_WRITE)`` does it without changing a byte,
    so racing the threads that already write there is harmless. Chunks of
    about ``TOUCH_BYTES`` per plane keep this thread just ahead of them.
    Elsewhere, or on kernels before 5.14, nothing is done."""
    if _populate is None:
        return
    row_bytes = min(plane[:1].nbytes for plane in outputs.values())
    chunk = max(1, TOUCH_BYTES // max(row_bytes, 1))
    for top in range(0, bands[-1][1], chunk):
        for plane in outputs.values():
            part = plane[top : top + chunk]
            start = -(-part.ctypes.data // PAGE) * PAGE  # whole pages inside `part`
            stop = (part.ctypes.data + part.nbytes) // PAGE * PAGE
            if stop > start and not _populate(start, stop - start):
                return


def _populate_function():
    """``populate(address, length) -> bool`` on Linux 5.14+, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    populate_write = 23  # MADV_POPULATE_WRITE, <linux/mman.h>

    def populate(address: int, length: int) -> bool:
        # ctypes releases the GIL for the call: the others compute meanwhile
        return madvise(address, length, populate_write) == 0

    probe = np.empty(4 * PAGE, np.uint8)
    address = -(-probe.ctypes.data // PAGE) * PAGE
    return populate if populate(address, PAGE) else None


_populate = _populate_function()


def _run_strip(plan, image, top, bottom, workspace, outputs):
    """Compute output rows ``top:bottom`` into `outputs`.

    Stage k only computes the rows that later stages can still reach:
    ``top - reach .. bottom + reach`` with ``reach`` the halos of the stages
    after it; its inputs are cut to that band widened by its own halo. A
    pointwise or cropping stage with nothing after it thus works on
    ``top:bottom`` alone and writes straight into the output arrays. Other
    stages write into this thread's workspace buffers (``plan.capacity``
    rows), reused from strip to strip.
    """
    height = image.shape[0]
    planes: dict[str, tuple[np.ndarray, int]] = {IMAGE: (image, 0)}  # plane, first row
    last_use, last_writer = plan.last_use, plan.last_writer
    reach = plan.halo
    for index, stage in enumerate(plan.stages):
        halo = stage.halo
        reach -= halo  # what the stages after this one still read around a row
        need_start, need_stop = max(0, top - reach), min(height, bottom + reach)
        start, stop = max(0, need_start - halo), min(height, need_stop + halo)
        inputs = [
            planes[name][0][start - planes[name][1] : stop - planes[name][1]]
            for name in stage.reads
        ]
        if stage.crops:
            first, last = need_start, need_stop
        else:
            first, last = start, stop
        direct = (
            reach == 0
            and (halo == 0 or stage.crops)
            and all(name in outputs and last_writer[name] == index for name in stage.writes)
        )
        if direct:
            out = tuple(outputs[name][first:last] for name in stage.writes)
        else:
            out = _workspace(plan, workspace, index, last - first)
        results = stage.kernel(inputs, out, first - start, stop - last)
        planes.update({name: (r, first) for name, r in zip(stage.writes, results, strict=True)})
        for name in stage.reads:
            if last_use.get(name, -1) <= index and name not in stage.writes:
                planes.pop(name, None)
    for name in plan.outputs:
        plane, first = planes[name]
        core = plane[top - first : bottom - first]
        if not np.shares_memory(core, outputs[name]):
            outputs[name][top:bottom] = core


def _workspace(plan, workspace, index, rows):
    """Buffers for the planes stage `index` writes, `rows` rows of them.

    Made once per thread and call at the tallest strip's height; when small,
    they come from the thread's scratch memory and so also outlive the call
    (a fresh allocation would fault its pages in again for every image)."""
    buffers = workspace.get(index)
    if buffers is None:
        buffers = workspace[index] = tuple(
            scratch((plan.capacity, *row), dtype, ("strip", index, k))
            for k, (dtype, row) in enumerate(plan.rows_like[index])
        )
    return tuple(b[:rows] for b in buffers)
