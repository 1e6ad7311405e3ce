"""Pipelines on Dask: images larger than memory, processed chunk by chunk.

The only imgrad module that imports Dask (and, for clusters,
dask.distributed); ``import imgrad`` never loads it. It needs the optional
dependencies: ``pip install "imgrad[dask]"``.

- :func:`apply` lifts a pipeline over a 2-D or 3-D dask array: one lazy
  array per output plane, bit-identical to the pipeline run on the whole image.
- :func:`open_array` reads a big TIFF, Zarr array or ``.npy`` file lazily;
  :func:`write_tiled` and :func:`write_planes` write tiled TIFFs or Zarr
  arrays block by block, atomically.
- :func:`run_tiled` does all of it for one file (``imgrad run --tile``).
- :func:`client` opens a ``distributed.Client`` (to a running scheduler, or
  on a ``LocalCluster`` sized to the machine) and closes it cleanly;
  :func:`submit_bounded` streams per-item jobs through one, with a bounded
  number in flight.

How a pipeline is tiled
-----------------------
Each chunk is padded with the pipeline's halo, the sum of every step's reach
(kernel radii, footprint size x iterations, Gaussian support), taken from its
neighbours (``dask.array.map_overlap`` with ``boundary="none"``); the steps
run on the padded block, and the halo is cut off again. At the image's real
edges there is no padding, so each step's own border rule applies there
exactly as on the whole image. Chunks are laid on a grid of multiples of
:data:`ALIGN` pixels near the input's chunk size, none narrower than the
halo; an axis held in one chunk needs no halo at all.

The pipeline is cut into stages where one pass cannot do:

- before a step needing whole-image statistics, whose planes are first
  computed chunk by chunk and reduced: ``scale method=minmax`` gets each
  plane's minimum and maximum, as :func:`imgrad.scale` finds them, and
  runs as ``scale method=range low=min high=max`` (the same arithmetic);
  ``colorize`` without ``max`` gets the magnitude percentile, found exactly,
  and runs with ``max=`` that value;
- around each step with border ``wrap``, which reads the opposite edge of
  the image: it runs on bands of full rows, padded above and below from the
  other end (``boundary="periodic"``).

Planes pass between stages, and out of the last one, packed in one array of
a structured dtype (a field per plane), so each chunk runs each step once
whatever the number of output planes.

Exactness
---------
Every plane, integer or float, is bit-identical to the whole-image result,
for every step, border mode and chunking: the halo makes each pixel read the
same values, and the chunk grid makes OpenCV's vectorised loops compute
each pixel with the same instructions (see :func:`_map_stage`). With the
halo alone, float planes differ in the last bit on a few pixels along the
chunk edges (and phases near zero gradients, where the angle is ill-defined,
by much more). On an AVX-512 machine an alignment of 32 pixels is enough and
16 is not; :data:`ALIGN` is 64.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgrad import tiled

try:
    import dask
    import dask.array as da
    import dask.threaded
    from dask.system import CPU_COUNT
except ImportError as _exc:  # exercised in a subprocess by the tests
    raise tiled.missing_extra("imgrad.dask", _exc) from None

from imgrad._validation import (
    IMAGE_DTYPES,
    check_channels_last,
    check_choice,
    check_int,
    fail,
    parts_of_checked_images,
)
from imgrad.ops import IMAGE, Scale, Step
from imgrad.pipeline import Pipeline
from imgrad.visualize import percentile_between

__all__ = [
    "FORMATS",
    "apply",
    "client",
    "open_array",
    "run_tiled",
    "submit_bounded",
    "write_planes",
    "write_tiled",
]

#: Output formats of :func:`run_tiled` (file extensions).
FORMATS = ("tif", "zarr")
_SCHEDULER_DOC = "None, a scheduler name, a distributed.Client or a scheduler address"


# --- apply ----------------------------------------------------------------------


def apply(pipeline: Pipeline | str, array: Any, *, scheduler: Any = None) -> dict[str, da.Array]:
    """Run a pipeline on a dask array, chunk by chunk.

    Parameters
    ----------
    pipeline : Pipeline or str
        A pipeline or its text form.
    array : dask.array.Array, shape (H, W) or (H, W, C)
        uint8, uint16, int16, float32 or float64; any chunking (channels are put in
        one chunk). A NumPy array is accepted and wrapped.
    scheduler : optional
        Runs the reduction passes of steps needing whole-image statistics
        (``scale method=minmax``, ``colorize`` without ``max``), which happen
        here, before the lazy result is returned: a Dask scheduler name
        ("threads", "synchronous", ...), a ``distributed.Client`` or a
        scheduler address; by default Dask's current one. Other pipelines
        compute nothing here.

    Returns
    -------
    dict of str to dask.array.Array
        One lazy array per plane in ``pipeline.outputs``, its shape and dtype
        known, bit-identical to the whole-image result once computed. Chunks
        are multiples of :data:`ALIGN` pixels near the input's (see the
        module notes). The planes share one computation: computing several
        together (``dask.compute(*planes.values())``) runs the pipeline once
        per chunk.

    Raises
    ------
    PipelineError
        A bad pipeline text.
    ValueError, TypeError
        An array of unsupported shape or dtype, or a pipeline that cannot run
        on it (e.g. ``gray`` on 5 channels).

    Examples
    --------
    >>> import numpy as np, dask.array as da, imgrad, imgrad.dask
    >>> image = np.random.default_rng(0).integers(0, 256, (300, 200), dtype=np.uint8)
    >>> planes = imgrad.dask.apply("sobel | polar", da.from_array(image, chunks=64))
    >>> planes["magnitude"].shape, planes["magnitude"].dtype, planes["magnitude"].chunks[1]
    ((300, 200), dtype('float32'), (64, 64, 72))
    >>> whole = imgrad.Pipeline.parse("sobel | polar")(image)
    >>> bool(np.array_equal(planes["magnitude"].compute(), whole["magnitude"]))
    True
    """
    pipeline = _as_pipeline(pipeline)
    array = _as_image_array(array, "apply")
    target = (max(array.chunks[0]), max(array.chunks[1]))  # the chunk size asked for
    stages = _stages(pipeline, array)
    with _scheduler(scheduler) as chosen:
        current = array
        for stage in stages:
            steps = stage.steps
            if stage.statistics:
                steps = (_with_statistics(steps[0], current, chosen), *steps[1:])
            current = _map_stage(current, stage, steps, target)
    return {name: current[name] for name in pipeline.outputs}


#: Pixels that OpenCV's vectorised loops may process together, with room to
#: spare (4 unrolled AVX-512 registers of float32). See :func:`_map_stage`.
ALIGN = 64


@dataclass(frozen=True)
class _Stage:
    """Steps run in one pass over padded chunks."""

    steps: tuple[tuple[Any, tuple[str, ...], tuple[str, ...]], ...]  # (step, reads, writes)
    reach: int  # the sum of the steps' halos
    wrap: bool  # a single step with border="wrap"
    statistics: bool  # the first step needs whole-image statistics
    dtype: np.dtype  # structured: one field per plane kept after the stage


def _stages(pipeline: Pipeline, array: da.Array) -> list[_Stage]:
    """Cut the pipeline into stages; derive each one's packed planes and dtypes.

    A step with border="wrap" is a stage of its own (see :func:`_map_stage`);
    a step needing whole-image statistics starts a stage.
    """
    groups: list[list[tuple[Step, tuple[str, ...], tuple[str, ...]]]] = [[]]
    for step, (reads, writes) in zip(pipeline.steps, pipeline.routes, strict=True):
        alone = groups[-1] and groups[-1][-1][0].wraps
        if groups[-1] and (alone or step.wraps or step.needs_statistics):
            groups.append([])
        groups[-1].append((step, reads, writes))
    keeps = _planes_kept(groups, pipeline)
    # Shapes and dtypes of every plane, from a run on a tiny image of the same kind.
    planes = {IMAGE: np.zeros((4, 4, *array.shape[2:]), array.dtype)}
    stages = []
    for group, keep in zip(groups, keeps, strict=True):
        planes = _run_steps(group, planes)
        planes = {name: planes[name] for name in keep}
        stages.append(
            _Stage(
                tuple(group),
                sum(step.halo() for step, _, _ in group),
                group[0][0].wraps,
                group[0][0].needs_statistics,
                np.dtype([(n, p.dtype, p.shape[2:]) for n, p in planes.items()]),
            )
        )
    return stages


def _planes_kept(groups, pipeline: Pipeline) -> list[tuple[str, ...]]:
    """For each group, the planes read after it or returned, in order of creation."""
    live = set(pipeline.outputs)
    keeps = []
    for group in reversed(groups):
        keeps.append(tuple(name for name in pipeline.planes if name in live))
        for _, reads, writes in reversed(group):
            live = (live - set(writes)) | set(reads)
    return keeps[::-1]


def _run_steps(steps, planes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    planes = dict(planes)
    for step, reads, writes in steps:
        with parts_of_checked_images():  # blocks of an array checked whole
            results = step.compute(*(planes[name] for name in reads))
        planes.update(zip(writes, results, strict=True))
    return planes


def _run_stage(
    block: np.ndarray,
    steps,
    packed: np.dtype,
    reach: int = 0,
    aligned: bool = False,
    block_info: dict | None = None,
) -> np.ndarray:
    """One padded block through a stage's steps, packed into one structured array.

    With `aligned`, the block is first extended by copies of its edge pixels,
    as :func:`_map_stage` explains; they are cut off again before packing.
    """
    if block.dtype.names is None:
        planes = {IMAGE: block}
    else:
        planes = {name: np.ascontiguousarray(block[name]) for name in block.dtype.names}
    height, width = block.shape[:2]
    pads = [(0, 0), (0, 0)]
    if aligned and block_info is not None:
        location, count = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
        for axis, after in ((0, 1), (1, ALIGN)):
            pads[axis] = (
                -reach % ALIGN if location[axis] > 0 else 0,
                after if location[axis] < count[axis] - 1 else 0,
            )
    if pads != [(0, 0), (0, 0)]:
        planes = {
            name: np.pad(plane, pads + [(0, 0)] * (plane.ndim - 2), mode="edge")
            for name, plane in planes.items()
        }
    planes = _run_steps(steps, planes)
    top, left = pads[0][0], pads[1][0]
    out = np.empty((height, width), packed)
    for name in packed.names:
        out[name] = planes[name][top : top + height, left : left + width]
    return out


def _map_stage(array: da.Array, stage: _Stage, steps, target: tuple[int, int]) -> da.Array:
    """Run a stage's steps over chunks of `array` padded with the stage's reach.

    Bit-identical results need more than the halo. OpenCV's filters process
    each row, and its element-wise functions a whole contiguous buffer, in
    vector steps from the start, and the last few values by scalar code that
    may round differently. So chunk edges lie on multiples of :data:`ALIGN`
    pixels, and each block, already padded by the reach from its neighbours,
    is extended with copies of its edge pixels: before, up to a multiple of
    ALIGN from the image's corner (so vector steps fall on the same pixels as
    in the whole image), and after, by ALIGN columns and one row (so no pixel
    kept falls in the scalar tail of a row or of the buffer), except at the
    image's real edges, where the block ends as the image does. The copies
    only change pixels within the reach of them, all cut off.

    A "wrap" step takes its padding at the image's edges from the opposite
    side; it runs on bands of full rows, whose layout along a row is the
    whole image's.
    """
    chunks = list(array.chunks)
    depth = {axis: 0 for axis in range(array.ndim)}
    boundary = {axis: "none" for axis in range(array.ndim)}
    if stage.wrap:
        chunks[0] = _grid(array.shape[0], target[0], stage.reach)
        chunks[1] = (array.shape[1],)
        if len(chunks[0]) > 1:
            depth[0], boundary[0] = stage.reach, "periodic"
    else:
        for axis in (0, 1):
            chunks[axis] = _grid(array.shape[axis], target[axis], max(stage.reach, ALIGN))
            if len(chunks[axis]) > 1:
                depth[axis] = stage.reach
    if array.ndim == 3:
        chunks[2] = (array.shape[2],)
    array = array.rechunk(tuple(chunks))
    extra = {"drop_axis": 2} if array.ndim == 3 else {}
    return da.map_overlap(
        _run_stage,
        array,
        depth=depth,
        boundary=boundary,
        trim=True,
        dtype=stage.dtype,
        meta=np.empty((0, 0), stage.dtype),
        steps=steps,
        packed=stage.dtype,
        reach=stage.reach,
        aligned=not stage.wrap,
        **extra,
    )


def _grid(length: int, target: int, minimum: int) -> tuple[int, ...]:
    """Chunks along an axis: multiples of ALIGN near `target`, none below `minimum`.

    The last chunk takes the remainder (merged into the one before it when
    smaller than `minimum`); an axis shorter than two chunks is one chunk.
    """
    size = max(ALIGN, round(target / ALIGN) * ALIGN, -(-minimum // ALIGN) * ALIGN)
    if length < size + max(minimum, 1):
        return (length,)
    count, rest = divmod(length, size)
    chunks = [size] * count
    if rest >= max(minimum, 1):
        chunks.append(rest)
    else:
        chunks[-1] += rest
    return tuple(chunks)


def _with_statistics(item, packed: da.Array, scheduler: Any):
    """Reduction passes for a step needing whole-image statistics; the step to run instead."""
    step, reads, writes = item
    planes = [packed if packed.dtype.names is None else packed[name] for name in reads]
    if isinstance(step, Scale):
        return (_ScaleKnownBounds(step, _finite_bounds(planes, scheduler)), reads, writes)
    top = _colour_scale(planes[0], step.values["percentile"], scheduler)
    if top > 0:  # else no pixel has a positive magnitude: every block shows black anyway
        step = type(step)(**{**step.values, "max": top})
    return (step, reads, writes)


def _finite_bounds(planes: Sequence[da.Array], scheduler: Any) -> list[tuple[float, float]]:
    """Each plane's minimum and maximum, as ``imgrad.scale`` finds them.

    That is, in its working float type after ``np.nan_to_num``: NaN counts as
    0, and infinities as the largest finite values.
    """
    reductions = []
    for plane in planes:
        work = np.float64 if plane.dtype == np.float64 else np.float32
        values = plane.astype(work).map_blocks(np.nan_to_num, nan=0.0, dtype=work)
        reductions += [values.min(), values.max()]
    found = dask.compute(*reductions, scheduler=scheduler)
    return [(float(low), float(high)) for low, high in zip(found[::2], found[1::2], strict=True)]


def _colour_scale(magnitude: da.Array, percentile: float, scheduler: Any) -> float:
    """The magnitude ``colorize`` shows at full brightness, found over the whole image.

    As :func:`imgrad.visualize.magnitude_scale`: the `percentile` of the
    finite values (of the strongest channel at each pixel), by NumPy's
    linear interpolation between two order statistics, else the maximum if
    that is not positive. The order statistics are found exactly, 16 bits of
    their sortable integer keys per pass over the image (two passes for
    float32, four for float64, one for 8- and 16-bit planes); the
    interpolation is NumPy's own, on the two values.
    """
    blocks = [dask.delayed(_strongest_values)(b) for b in magnitude.to_delayed().ravel()]
    width = 16 if magnitude.dtype.kind in "ui" else 8 * magnitude.dtype.itemsize
    histogram = _histograms(blocks, width - 16, [None], scheduler)[0]
    count = int(histogram.sum())
    if count == 0:
        return 0.0
    index = (count - 1) * (percentile / 100)  # NumPy's virtual index, same arithmetic
    ranks = [count - 1] if index >= count - 1 else [int(index), int(index) + 1, count - 1]
    keys = _select(blocks, histogram, ranks, width, scheduler)
    values = [_key_value(key, magnitude.dtype) for key in keys]
    if len(values) == 1:
        top = float(values[0])
    else:
        low, high = (magnitude.dtype.type(v) for v in values[:2])
        top = percentile_between(low, high, index)
    if top <= 0:
        top = float(values[-1])
    return top if top > 0 else 0.0


def _strongest_values(block: np.ndarray) -> np.ndarray:
    """Sortable keys of a block's finite values (strongest channel for (H, W, C))."""
    if block.ndim == 3:
        if block.dtype.kind == "f":
            block = np.where(np.isnan(block), -np.inf, block)
        block = block.max(axis=2)
    if block.dtype.kind in "ui":
        return block.ravel().astype(np.uint64)
    values = block[np.isfinite(block)]
    unsigned = np.dtype(f"u{values.dtype.itemsize}")
    bits = values.view(unsigned)
    sign = unsigned.type(1 << (8 * unsigned.itemsize - 1))
    # Negative floats: all bits flipped; others: the sign bit set. Order is kept.
    return np.where(bits & sign, ~bits, bits | sign).astype(np.uint64)


def _histograms(blocks, shift: int, prefixes: list, scheduler: Any) -> list[np.ndarray]:
    """Counts of the 16-bit digit at `shift` of the keys under each prefix (None: all)."""
    parts = [dask.delayed(_digit_counts)(b, shift, prefixes) for b in blocks]
    (total,) = dask.compute(dask.delayed(sum)(parts), scheduler=scheduler)
    return list(total)


def _digit_counts(keys: np.ndarray, shift: int, prefixes: list) -> np.ndarray:
    counts = np.zeros((len(prefixes), 1 << 16), np.int64)
    digits = ((keys >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.intp)
    for row, prefix in enumerate(prefixes):
        chosen = digits if prefix is None else digits[(keys >> np.uint64(shift + 16)) == prefix]
        counts[row] = np.bincount(chosen, minlength=1 << 16)
    return counts


def _select(blocks, histogram: np.ndarray, ranks: list[int], width: int, scheduler) -> list:
    """The keys of the given ranks (0-based, in sorted order), digit by digit."""
    prefixes, ranks = [None] * len(ranks), list(ranks)
    shift = width - 16
    while True:
        for i, prefix in enumerate(prefixes):
            counts = histogram[i] if isinstance(histogram, list) else histogram
            cumulative = np.cumsum(counts)
            digit = int(np.searchsorted(cumulative, ranks[i], side="right"))
            ranks[i] -= int(cumulative[digit - 1]) if digit else 0
            prefixes[i] = digit if prefix is None else (prefix << 16) | digit
        if shift == 0:
            return prefixes
        shift -= 16
        distinct = sorted(set(prefixes))
        found = _histograms(blocks, shift, [np.uint64(p) for p in distinct], scheduler)
        histogram = [found[distinct.index(p)] for p in prefixes]


def _key_value(key: int, dtype: np.dtype):
    """The value of a sortable key (inverse of :func:`_strongest_values`)."""
    if dtype.kind in "ui":
        return key
    bits = 8 * dtype.itemsize
    top = 1 << (bits - 1)
    raw = key ^ top if key & top else ~key & ((1 << bits) - 1)
    return np.array(raw, dtype=f"u{dtype.itemsize}").view(dtype)[()]


class _ScaleKnownBounds:
    """``scale method=minmax`` with each plane's bounds found beforehand.

    Runs ``scale method=range low=min high=max`` on each plane: the very
    arithmetic of minmax, with the whole image's bounds instead of the
    block's. A plane whose finite values are all equal (or absent) keeps the
    minmax step itself: it maps every block to 0 whatever its own bounds.
    """

    def __init__(self, step: Step, bounds: Sequence[tuple[float, float]]) -> None:
        values = {k: v for k, v in step.values.items() if k != "input"}
        self.scales = [
            type(step)(**{**values, "method": "range", "low": low, "high": high})
            if high > low
            else step
            for low, high in bounds
        ]

    def compute(self, *planes: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(s.compute(p)[0] for s, p in zip(self.scales, planes, strict=True))


def _as_pipeline(pipeline: Pipeline | str) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, str):
        return Pipeline.parse(pipeline)
    raise fail("pipeline", "imgrad.dask", "a Pipeline or a pipeline text", pipeline, TypeError)


def _as_image_array(array: Any, where: str) -> da.Array:
    if isinstance(array, np.ndarray):
        array = da.from_array(array, chunks="auto")
    names = "{" + ", ".join(np.dtype(t).name for t in IMAGE_DTYPES) + "}"
    if (
        not isinstance(array, da.Array)
        or array.ndim not in (2, 3)
        or array.dtype.type not in IMAGE_DTYPES
        or 0 in array.shape
    ):
        raise fail(
            "array",
            f"imgrad.dask.{where}",
            f"a non-empty 2-D (H, W) or 3-D (H, W, C) dask array of dtype {names}",
            array,
            TypeError if not isinstance(array, da.Array) else ValueError,
        )
    check_channels_last(array.shape, where=f"imgrad.dask.{where}", param="array")
    if not array.dtype.isnative:  # OpenCV reads native byte order only
        array = array.astype(array.dtype.newbyteorder("="))
    return array


# --- files --------------------------------------------------------------------------


def open_array(path: str | os.PathLike[str], chunks: int | tuple[int, int] = 4096) -> da.Array:
    """A big image file as a lazy dask array.

    Parameters
    ----------
    path : str or os.PathLike
        ``.tif``/``.tiff`` (first page), a ``.zarr`` array folder or ``.npy``;
        see :mod:`imgrad.tiled`.
    chunks : int or (rows, columns)
        Chunk size; channels are one chunk.

    Returns
    -------
    dask.array.Array
        (H, W) or (H, W, C). Each chunk opens the file and reads only its
        region, so the array can be computed by threads, processes or the
        workers of a cluster that see the same path.

    Examples
    --------
    >>> import os, tempfile, numpy as np, tifffile, imgrad.dask
    >>> path = os.path.join(tempfile.mkdtemp(), "big.tif")
    >>> tifffile.imwrite(path, np.ones((3000, 2000), np.uint8), tile=(256, 256))
    >>> imgrad.dask.open_array(path, chunks=1024).chunks
    ((1024, 1024, 952), (1024, 976))
    """
    image = tiled.open_image(path)
    if isinstance(chunks, (tuple, list)) and len(chunks) == 2:
        rows = check_int(chunks[0], param="chunks", where="open_array", low=1)
        cols = check_int(chunks[1], param="chunks", where="open_array", low=1)
    else:
        rows = cols = check_int(chunks, param="chunks", where="open_array", low=1)
    return da.from_array(
        image,
        chunks=(rows, cols, *image.shape[2:]),
        name="imgrad-read-" + dask.base.tokenize(image, rows, cols),
        fancy=False,
        meta=np.empty((0,) * image.ndim, image.dtype),
    )


def write_tiled(
    path: str | os.PathLike[str],
    array: da.Array,
    *,
    compression: str | None = None,
    scheduler: Any = None,
) -> str:
    """Write a dask array to a tiled TIFF or a Zarr array, block by block.

    See :func:`write_planes`, which writes several arrays in one pass.

    Examples
    --------
    >>> import os, tempfile, numpy as np, dask.array as da, tifffile, imgrad.dask
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.tif")
    >>> ramp = da.arange(600 * 400, dtype=np.float32).reshape(600, 400).rechunk(256)
    >>> imgrad.dask.write_tiled(path, ramp) == path
    True
    >>> with tifffile.TiffFile(path) as tif:
    ...     page = tif.pages.first
    ...     page.tilelength, page.tilewidth, float(page.asarray()[599, 399])
    (256, 256, 239999.0)
    """
    return write_planes({path: array}, compression=compression, scheduler=scheduler)[0]


def write_planes(
    targets: Mapping[str | os.PathLike[str], da.Array],
    *,
    compression: str | None = None,
    scheduler: Any = None,
) -> list[str]:
    """Write dask arrays to tiled TIFFs or Zarr arrays, in one pass, atomically.

    Parameters
    ----------
    targets : mapping of path to dask.array.Array
        ``.tif``/``.tiff`` paths get a tiled TIFF (256 x 256 tiles, BigTIFF
        from 4 GiB), ``.zarr`` paths a Zarr array chunked as the dask array.
        Arrays are (H, W) or (H, W, C). Arrays sharing a computation (the
        planes of :func:`apply`) are computed once.
    compression : {None, "zlib"}
        TIFF only: None (uncompressed) or Adobe Deflate. Zarr arrays use the
        Zarr library's default compressor.
    scheduler : optional
        A Dask scheduler name, a ``distributed.Client`` or a scheduler
        address; by default Dask's current one.

    Returns
    -------
    list of str
        The paths written. Each output is written under a temporary name and
        renamed into place once complete; on error none is left behind.

    Notes
    -----
    TIFF tiles are written in order, so the arrays are computed one band of
    chunk rows at a time (all arrays together) while writer threads encode
    the previous band: memory holds about three bands, i.e. three chunk rows
    times the image width times the bytes per pixel of all arrays. Zarr
    arrays are written chunk by chunk in any order.
    """
    if not isinstance(targets, Mapping) or not targets:
        raise fail(
            "targets", "write_planes", "a non-empty mapping of path to array", targets, TypeError
        )
    paths = [os.fspath(p) for p in targets]
    arrays = [_as_writable(a, p) for p, a in zip(paths, targets.values(), strict=True)]
    formats = {_output_format(p) for p in paths}
    if compression not in (None, "zlib", "deflate"):
        raise fail("compression", "write_planes", "None, 'zlib' or 'deflate'", compression)
    compression = None if compression is None else "zlib"
    if formats == {"zarr"} and compression is not None:
        raise fail("compression", "write_planes", "None for Zarr outputs", compression)
    with _scheduler(scheduler) as chosen, tiled.replacing(paths) as temps:
        tiffs = [i for i, p in enumerate(paths) if _output_format(p) == "tif"]
        zarrs = [i for i, p in enumerate(paths) if _output_format(p) == "zarr"]
        if zarrs:
            _store_zarr([temps[i] for i in zarrs], [arrays[i] for i in zarrs], chosen)
        if tiffs:
            _store_tiff([temps[i] for i in tiffs], [arrays[i] for i in tiffs], compression, chosen)
    return paths


def _output_format(path: str) -> str:
    ext = os.path.splitext(path.rstrip("/" + os.sep))[1].lower()
    if ext in (".tif", ".tiff"):
        return "tif"
    if ext == ".zarr":
        return "zarr"
    raise fail("path", "write_planes", "a .tif, .tiff or .zarr path", path)


def _as_writable(array: Any, path: str) -> da.Array:
    array = _as_image_array(array, "write_planes")
    if array.ndim == 3:
        array = array.rechunk({2: -1})
    return array


def _store_tiff(paths, arrays, compression, scheduler) -> None:
    """Arrays with the same rows are computed together, one band of chunk rows at a time."""
    groups: dict[tuple, list[int]] = {}
    for index, array in enumerate(arrays):
        groups.setdefault(array.chunks[0], []).append(index)
    for rows, members in groups.items():
        chosen = [arrays[i] for i in members]
        edges = list(itertools.accumulate(rows, initial=0))
        bands = (
            dask.compute(*(a[top:bottom] for a in chosen), scheduler=scheduler)
            for top, bottom in itertools.pairwise(edges)
        )

        tiled.write_tiffs(
            [paths[i] for i in members],
            bands,
            shapes=[a.shape for a in chosen],
            dtypes=[a.dtype for a in chosen],
            compression=compression,
        )


def _store_zarr(paths, arrays, scheduler) -> None:
    sources, targets = [], []
    for path, array in zip(paths, arrays, strict=True):
        grid = tuple(c[0] for c in array.chunks)  # Zarr chunks: the dask chunk size
        aligned = all(
            all(edge % size == 0 for edge in np.cumsum(c)[:-1])
            for c, size in zip(array.chunks, grid, strict=True)
        )
        if not aligned:  # every dask chunk must write whole Zarr chunks: no locks needed
            array = array.rechunk(grid)
        tiled.create_zarr(path, array.shape, array.dtype, grid)
        sources.append(array)
        targets.append(tiled.ZarrRegion(path))
    with _settled(scheduler, sources) as options:
        da.store(sources, targets, lock=False, compute=True, **options)


@contextlib.contextmanager
def _settled(scheduler: Any, collections: list) -> Iterator[dict[str, Any]]:
    """Options for computing tasks with side effects that have all ended at exit.

    When a task fails, Dask's thread scheduler raises at once while other
    tasks may still be writing; with a pool of its own, those are waited for
    here, so that the temporary output can then be removed for good. (Other
    schedulers' workers may still finish a write after the error: files in
    the temporary folder, removed when the same output is written again.)
    """
    if dask.base.get_scheduler(scheduler=scheduler, collections=collections) is not (
        dask.threaded.get
    ):
        yield {"scheduler": scheduler}
        return
    pool = ThreadPoolExecutor(dask.config.get("num_workers", None) or CPU_COUNT)
    try:
        yield {"scheduler": "threads", "pool": pool}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- one file ---------------------------------------------------------------------


def run_tiled(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    pipeline: Pipeline | str,
    *,
    tile: int = 4096,
    format: str = "tif",
    compression: str | None = None,
    scheduler: Any = None,
) -> list[str]:
    """Run a pipeline on one image file larger than memory, chunk by chunk.

    Parameters
    ----------
    input_path : str or os.PathLike
        ``.tif``/``.tiff``, ``.zarr`` or ``.npy`` (see :func:`open_array`).
    out_dir : str or os.PathLike
        Created if needed; receives ``<stem>.<plane>.<format>`` for each plane
        in ``pipeline.outputs``.
    pipeline : Pipeline or str
    tile : int
        Side of the square chunks processed (each padded by the halo).
    format : {"tif", "zarr"}
        Tiled TIFF (256 x 256 tiles) or Zarr array (chunks of `tile`).
        Planes are written as computed: float planes stay float (end the
        pipeline with a ``scale`` step for 8/16-bit images).
    compression : {None, "zlib"}
        TIFF compression.
    scheduler : optional
        A Dask scheduler name ("threads", "processes", "synchronous"), a
        ``distributed.Client`` or a scheduler address ("tcp://host:8786");
        by default Dask's current one (threads on this machine).

    Returns
    -------
    list of str
        The output paths, in the order of ``pipeline.outputs``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, tifffile, imgrad, imgrad.dask
    >>> folder = tempfile.mkdtemp()
    >>> image = np.random.default_rng(0).integers(0, 256, (700, 500), dtype=np.uint8)
    >>> tifffile.imwrite(os.path.join(folder, "big.tif"), image, tile=(256, 256))
    >>> paths = imgrad.dask.run_tiled(os.path.join(folder, "big.tif"), folder,
    ...                               "sobel | magnitude", tile=256)
    >>> [os.path.basename(p) for p in paths]
    ['big.magnitude.tif']
    >>> whole = imgrad.Pipeline.parse("sobel | magnitude")(image)["magnitude"]
    >>> bool(np.array_equal(tifffile.imread(paths[0]), whole))
    True
    """
    pipeline = _as_pipeline(pipeline)
    tile = check_int(tile, param="tile", where="run_tiled", low=1)
    format = check_choice(format, FORMATS, param="format", where="run_tiled")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise fail("out_dir", "run_tiled", "a str or os.PathLike", out_dir, TypeError)
    image = open_array(input_path, chunks=tile)
    stem = Path(os.fspath(input_path).rstrip("/" + os.sep)).stem
    os.makedirs(out_dir, exist_ok=True)
    with _scheduler(scheduler) as chosen:
        planes = apply(pipeline, image, scheduler=chosen)
        targets = {
            os.path.join(os.fspath(out_dir), f"{stem}.{name}.{format}"): plane
            for name, plane in planes.items()
        }
        return write_planes(targets, compression=compression, scheduler=chosen)


# --- clusters ----------------------------------------------------------------------


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise tiled.missing_extra("Running on a Dask cluster", exc) from None
    return distributed


@contextlib.contextmanager
def _scheduler(scheduler: Any) -> Iterator[Any]:
    """What to pass as ``scheduler=`` to Dask; an address opens a Client for the duration."""
    if isinstance(scheduler, str) and "://" in scheduler:
        with client(scheduler) as connected:
            yield connected
        return
    if scheduler is None or isinstance(scheduler, str) or hasattr(scheduler, "get"):
        yield scheduler
        return
    raise fail("scheduler", "imgrad.dask", _SCHEDULER_DOC, scheduler, TypeError)


@contextlib.contextmanager
def client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
) -> Iterator[Any]:
    """A ``distributed.Client``, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler ("tcp://host:8786"). By default a
        ``LocalCluster`` is started on this machine.
    workers : int, optional
        LocalCluster workers; default: one per core this process may use.
    threads_per_worker : int
        LocalCluster threads per worker. OpenCV and NumPy release the GIL,
        but one thread per worker process keeps each image's work in one
        place and a crash costs one worker's images only.
    processes : bool
        LocalCluster workers as processes (True) or threads of this process.

    Examples
    --------
    >>> import imgrad.dask
    >>> with imgrad.dask.client(workers=1, processes=False) as c:  # doctest: +SKIP
    ...     c.submit(sum, [1, 2]).result()
    3
    """
    distributed = _import_distributed()
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    workers = check_int(workers, param="workers", where="client", low=1)
    threads = check_int(threads_per_worker, param="threads_per_worker", where="client", low=1)
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=processes,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


def submit_bounded(
    client: Any,
    function: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    limit: int,
    retries: int = 0,
) -> Iterator[tuple[Any, Any]]:
    """Submit ``function(item)`` per item, at most `limit` in flight; yield as they finish.

    Items are drawn from `items` lazily, so a generator of millions of paths
    never becomes a million-task graph.

    Parameters
    ----------
    client : distributed.Client
    function : callable
        Picklable; called as ``function(item)`` on a worker.
    items : iterable
    limit : int
        Most jobs submitted and not yet yielded. The next item is drawn once
        the consumer has handled a finished job, so it can stop the stream
        before more work is submitted.
    retries : int
        Times a job whose function raised is run again before its future
        holds the error (``Client.submit(..., retries=)``).

    Yields
    ------
    (item, future)
        Finished futures in completion order: ``future.result()`` returns the
        value or raises the job's exception. A worker lost mid-job has its
        jobs rerun elsewhere by the scheduler; a job that was running on
        several workers that died (``distributed.worker.allowed-failures``,
        3 by default) raises ``distributed.KilledWorker``.
    """
    distributed = _import_distributed()
    limit = check_int(limit, param="limit", where="submit_bounded", low=1)
    retries = check_int(retries, param="retries", where="submit_bounded", low=0)
    source = iter(items)
    running = distributed.as_completed()
    pending: dict[str, tuple[Any, Any]] = {}  # future key -> (item, future)

    def submit_next() -> bool:
        for item in source:
            future = client.submit(function, item, pure=False, retries=retries)
            pending[future.key] = (item, future)
            running.add(future)
            return True
        return False

    try:
        while len(pending) < limit and submit_next():
            pass
        for future in running:
            item, _ = pending.pop(future.key)
            yield item, future
            submit_next()
    finally:
        if pending:  # the consumer stopped early: drop the jobs still queued
            client.cancel([future for _, future in pending.values()])
