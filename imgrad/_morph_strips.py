"""Dilation and erosion in strips of rows on threads, by OpenCV or by chords.

The machinery behind :mod:`imgrad.morphology` (see its docstring for the method):
a strip's dilation and erosion go to per-thread scratch buffers and their
difference is taken while they are still in the cache; each strip is dilated by
OpenCV or by an exact decomposition of the footprint into horizontal runs
("chords"), whichever a cost model predicts faster. Private: the public API is
:mod:`imgrad.morphology`.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from imgrad._border import cv_border, cv_view, deliver
from imgrad._scratch import scratch

#: What each operation needs: a dilation, an erosion.
_DILATING = ("dilate", "basic", "external")
_ERODING = ("erode", "basic", "internal")


def _subtract(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a - b, saturating at 0 (and at the top for integers): never negative, never wraps."""
    if a.dtype.kind == "u":
        return deliver(
            cv2.subtract(a, b, dst=None if out is None else cv_view(out)).reshape(a.shape), out
        )
    # A footprint that reaches only outside the image (border="ignore") leaves
    # -max/+max in the dilation/erosion; their difference overflows to inf.
    with np.errstate(over="ignore"):
        out = np.subtract(a, b, out=out)
    return np.maximum(out, 0, out=out)


def _with_errstate(settings: dict[str, str], work: Callable[[], None]) -> None:
    with np.errstate(**settings):
        work()


# --- strips ----------------------------------------------------------------------------

#: Scratch slots (per thread) of the strip path. Slots 0 and 1 hold the whole-image
#: path's dilation and erosion, which never runs at the same time.
_SLOT_PADDED, _SLOT_HIGH, _SLOT_LOW, _SLOT_RUNS = 2, 3, 4, 5
#: Bytes of a strip (padded, for chords): its intermediates then stay in the cache.
_STRIP_BYTES = 1024 * 1024
#: Least output rows of a strip, in footprint heights: the rows around a strip that
#: its footprint reaches are read (and, with chords, partly computed) again.
_STRIP_HEIGHTS = {"opencv": 4, "chords": 2}
#: OpenCV spreads a dilation of this many pixels or more over its own threads: from
#: threads of ours that costs several times as much (measured: 3x on 2 cores).
_OPENCV_PIXELS = 2**20
#: OpenCV's marker of its default border (DBL_MAX): as a constant it means "ignore".
_DBL_MAX = float(np.finfo(np.float64).max)


class _NotANumber(Exception):
    """Raised by the strip path on an image holding NaN."""


def _pass(operation, image, high, low, fp, method, border, cval, rows, workers, check, out=None):
    """One application, strip by strip: dilate `high`, erode `low`, or a gradient.

    `check`: raise _NotANumber if `image` holds NaN (looked at strip by strip).
    """
    if out is None:
        out = np.empty(image.shape, image.dtype)
    height, width = image.shape[:2]
    channels = image.size // (height * width)
    if rows is None:
        rows = _strip_rows(method, image.shape, image.itemsize, fp.shape, workers)
    if method == "opencv":
        rows = max(rows, 2)  # see _opencv_rows
    if border == "constant" and cval == _DBL_MAX:
        border = "ignore"
    check = check and image.dtype.kind == "f"
    chords = _chords_of(fp.shape, fp.tobytes()) if method == "chords" else None
    # Chords pad each strip; the dilation's padding serves the erosion unless "ignore"
    # (which pads with the lowest value for one and the highest for the other).
    shared_padding = (
        chords is not None and operation == "basic" and border != "ignore" and high is low
    )
    high, low = (a.reshape(height, width, channels) for a in (high, low))
    flat_image, flat_out = (a.reshape(height, width * channels) for a in (image, out))

    def rows_of(dilating, source, top, bottom, dst, pad=True):
        if chords is None:
            return _opencv_rows(dilating, source, top, bottom, fp, border, cval)
        return _chord_rows(chords, dilating, source, top, bottom, fp.shape, border, cval, dst, pad)

    def strip(top: int, bottom: int) -> None:
        if check and np.isnan(flat_image[top:bottom].max()):
            raise _NotANumber
        here = flat_out[top:bottom]
        if operation in _DILATING:
            dilated = rows_of(True, high, top, bottom, here if operation == "dilate" else None)
        if operation in _ERODING:
            dst = here if operation == "erode" else None
            eroded = rows_of(False, low, top, bottom, dst, pad=not shared_padding)
        if operation == "basic":
            _subtract(dilated, eroded, here)
        elif operation == "internal":
            _subtract(flat_image[top:bottom], eroded, here)
        elif operation == "external":
            _subtract(dilated, flat_image[top:bottom], here)
        else:
            result = dilated if operation == "dilate" else eroded
            if result is not here:
                np.copyto(here, result)

    _in_strips(strip, height, rows, workers)
    return out


def _strip_rows(method, shape, itemsize, fp_shape, workers) -> int:
    """Output rows per strip: a strip of about ``_STRIP_BYTES``, at least one strip per
    worker, and at least ``_STRIP_HEIGHTS`` footprint heights; for OpenCV, fewer than
    ``_OPENCV_PIXELS`` pixels at a time."""
    height, width = shape[:2]
    channels = math.prod(shape[2:])
    h, w = fp_shape
    if method == "chords":
        fitting = _STRIP_BYTES // ((width + w - 1) * channels * itemsize) - (h - 1)
    else:
        fitting = _STRIP_BYTES // (width * channels * itemsize)
    rows = max(_STRIP_HEIGHTS[method] * h, 16, min(fitting, -(-height // workers)))
    if method == "opencv":
        rows = min(rows, max(2, (_OPENCV_PIXELS - 1) // (width + w - 1) - (h - 1)))
    return rows


def _opencv_rows(dilating, source, top, bottom, fp, border, cval) -> np.ndarray:
    """Rows ``top:bottom`` of OpenCV's dilation (or erosion) of `source` (H, W, C), as
    a (rows, W * C) view of a scratch buffer.

    OpenCV works on the rows the footprint reaches and makes up the others by the
    border rule; the rows it makes up at the strip's inner edges only reach output
    rows outside ``top:bottom``. At the image's top and bottom it reflects within
    the rows given, which hold every row a reflection needs once a strip has at
    least two output rows.
    """
    op = cv2.dilate if dilating else cv2.erode
    slot = _SLOT_HIGH if dilating else _SLOT_LOW
    height, width, channels = source.shape
    h, w = fp.shape
    up, left = h // 2, w // 2
    n = bottom - top
    if border == "wrap":  # OpenCV's morphology has no wrap: pad explicitly, then ignore
        padded = scratch((n + h - 1, width + w - 1, channels), source.dtype, _SLOT_PADDED)
        _pad(source, top, bottom, fp.shape, border, 0.0, padded)
        result = scratch(padded.shape, source.dtype, slot)
        op(cv_view(padded), fp, dst=cv_view(result))
        return result[up : up + n, left : left + width].reshape(n, width * channels)
    first, last = max(0, top - up), min(height, bottom + h - 1 - up)
    result = scratch((last - first, width, channels), source.dtype, slot)
    if border == "ignore":  # OpenCV's default: pixels outside take no part
        op(cv_view(source[first:last]), fp, dst=cv_view(result))
    else:
        op(
            cv_view(source[first:last]),
            fp,
            dst=cv_view(result),
            borderType=cv_border(border),
            borderValue=(cval,) * 4,
        )
    return result.reshape(last - first, width * channels)[top - first : bottom - first]


def _pad(source, top, bottom, fp_shape, border, fill, dst) -> None:
    """Rows ``top - h//2 .. bottom + (h-1) - h//2`` and columns ``-w//2 .. W + (w-1) - w//2``
    of `source` (H, W, C), made up outside it by the border rule, into `dst`.

    `fill`: the value outside with "ignore" or "constant".
    """
    h, w = fp_shape
    up, left = h // 2, w // 2
    first, last = top - up, bottom + h - 1 - up
    height = source.shape[0]
    inside_first, inside_last = max(first, 0), min(last, height)
    right = w - 1 - left
    if border in ("ignore", "constant"):
        cv2.copyMakeBorder(
            cv_view(source[inside_first:inside_last]),
            inside_first - first,
            last - inside_last,
            left,
            right,
            cv2.BORDER_CONSTANT,
            dst=cv_view(dst),
            value=(fill,) * 4,
        )
        return
    kind = cv_border(border)
    cv2.copyMakeBorder(
        cv_view(source[inside_first:inside_last]),
        0,
        0,
        left,
        right,
        kind,
        dst=cv_view(dst[inside_first - first : inside_last - first]),
    )
    for row in (*range(first, inside_first), *range(inside_last, last)):  # outside the image
        mirror = cv2.borderInterpolate(row, height, kind)
        if inside_first <= mirror < inside_last:
            dst[row - first] = dst[mirror - first]
        else:
            cv2.copyMakeBorder(
                cv_view(source[mirror : mirror + 1]),
                0,
                0,
                left,
                right,
                kind,
                dst=cv_view(dst[row - first : row - first + 1]),
            )


_pool_lock = threading.Lock()
_pools: list[ThreadPoolExecutor] = []


def _in_strips(task, height: int, rows: int, workers: int) -> None:
    """Call ``task(top, bottom)`` for every strip of `rows` rows, on up to `workers`
    threads (the calling one included), strips handed out first come, first served."""
    bands = [(top, min(top + rows, height)) for top in range(0, height, rows)]
    workers = max(1, min(workers, len(bands)))
    lock = threading.Lock()
    pending = iter(bands)
    failed = threading.Event()

    def work() -> None:
        while not failed.is_set():
            with lock:
                band = next(pending, None)
            if band is None:
                return
            try:
                task(*band)
            except BaseException:
                failed.set()
                raise

    if workers == 1:
        work()
        return
    with _pool_lock:
        if not _pools:
            _pools.append(
                ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="imgrad-morph")
            )
        pool = _pools[0]
    # Each helper runs in a copy of the caller's context and floating-point error
    # settings (np.errstate: a context variable from NumPy 2, thread-local before).
    helpers = [
        pool.submit(contextvars.copy_context().run, _with_errstate, np.geterr(), work)
        for _ in range(workers - 1)
    ]
    try:
        work()
    finally:
        # Helpers still queued behind other calls' strips are not waited for.
        for helper in helpers:
            if not helper.cancel():
                helper.result()


# --- chords --------------------------------------------------------------------------
#
# A footprint is a union of horizontal runs ("chords"). The maximum over the run of
# length L that starts at column x0 of footprint row i is R_L[y + i, x + x0], where
# R_L is the running maximum of length L along the rows of the padded strip. Each R_L
# costs one elementwise maximum of two shifted copies of a shorter one,
# R_L[x] = max(R_m[x], R_m[x + L - m]) for m < L <= 2m, and the dilation one more
# maximum per run. A run repeated on k consecutive rows (a band) is taken once from
# the running maximum of R_L over k rows, built the same way downwards. Maxima and
# minima are exact: the result is OpenCV's bit for bit (NaN aside), with the same
# padding as OpenCV's border rule ("ignore" pads with the lowest value for a
# dilation, the highest for an erosion: +-FLT_MAX for float32, as OpenCV).

_BUILD, _TAKE = 0, 1
#: Cost of a build relative to a take: it also runs over the rows around the strip.
_BUILD_COST = 1.3


@dataclass(frozen=True)
class _Chords:
    """How to compute a dilation by a footprint from its runs.

    `steps` run in order over buffer 0 (the padded strip) and `buffers` more:
    ``(_BUILD, dst, src, width, height, dx, dy)``: buffer `dst` holds the running
    maximum over `width` columns and `height` rows, the maximum of buffer `src` and
    `src` shifted left by `dx` and up by `dy`; ``(_TAKE, src, row, x0)``: the
    result takes the maximum with buffer `src` shifted up by `row` and left by `x0`.
    """

    steps: tuple[tuple[int, ...], ...]
    buffers: int
    builds: int
    takes: int


@functools.lru_cache(maxsize=64)
def _chords_of(shape: tuple[int, int], bits: bytes) -> _Chords:
    """The chords of a footprint given as ``(fp.shape, fp.tobytes())`` (uint8 0/1)."""
    fp = np.frombuffer(bits, np.uint8).reshape(shape)
    rows_of: dict[tuple[int, int], list[int]] = {}  # (length, x0) -> rows holding that run
    for row, line in enumerate(fp):
        edges = np.diff(np.concatenate(([0], line.astype(np.int8), [0])))
        for x0, x1 in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            rows_of.setdefault((int(x1 - x0), int(x0)), []).append(row)
    bands: dict[int, dict[int, list[tuple[int, int]]]] = {}  # length -> height -> [(row, x0)]
    for (length, x0), rows in rows_of.items():
        for row, height in _consecutive(rows):
            bands.setdefault(length, {}).setdefault(height, []).append((row, x0))
    # Tables are named (width, height) here; (1, 1) is the padded strip. Widths grow
    # from the widest so far, heights (for each width) from the tallest so far.
    steps: list[tuple] = []
    widest = 1
    for length in sorted(bands):
        steps += [
            (_BUILD, (new, 1), (old, 1), new - old, 0) for new, old in _doubling(widest, length)
        ]
        widest = length
        tallest = 1
        for height, places in sorted(bands[length].items()):
            chain = _doubling(tallest, height)
            if _BUILD_COST * len(chain) + len(places) < height * len(places):
                steps += [
                    (_BUILD, (length, new), (length, old), 0, new - old) for new, old in chain
                ]
                steps += [(_TAKE, (length, height), row, x0) for row, x0 in places]
                tallest = height
            else:  # row by row
                steps += [
                    (_TAKE, (length, 1), row + i, x0) for row, x0 in places for i in range(height)
                ]
    return _allocate(steps)


def _consecutive(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows as bands ``(first, count)`` of consecutive rows."""
    bands: list[tuple[int, int]] = []
    for row in rows:
        if bands and bands[-1][0] + bands[-1][1] == row:
            bands[-1] = (bands[-1][0], bands[-1][1] + 1)
        else:
            bands.append((row, 1))
    return bands


def _doubling(have: int, want: int) -> list[tuple[int, int]]:
    """Steps ``(new, old)`` from a running maximum of length `have` to one of `want`:
    ``new <= 2 * old``, doubling until `want` is within reach."""
    steps = []
    while have < want:
        new = want if 2 * have >= want else min(2 * have, want - have)
        steps.append((new, have))
        have = new
    return steps


def _allocate(steps: list[tuple]) -> _Chords:
    """Give each table a buffer, reusing those no longer read."""
    takes = [i for i, step in enumerate(steps) if step[0] == _TAKE]
    last_read: dict[tuple[int, int], int] = {}
    for i, step in enumerate(steps):
        source = step[2] if step[0] == _BUILD else step[1]
        # The first take is only combined with the second one: it is read then.
        read = takes[1] if len(takes) > 1 and i == takes[0] else i
        last_read[source] = max(last_read.get(source, read), read)
    buffer_of = {(1, 1): 0}  # the padded strip itself
    free: list[int] = []
    count = 0
    resolved = []
    for i, step in enumerate(steps):
        if step[0] == _TAKE:
            _, table, row, x0 = step
            resolved.append((_TAKE, buffer_of[table], row, x0))
            continue
        for table, buffer in list(buffer_of.items()):
            if buffer and last_read[table] < i:
                free.append(buffer)
                del buffer_of[table]
        if not free:
            count += 1
            free.append(count)
        _, table, source, dx, dy = step
        buffer_of[table] = free.pop()
        resolved.append((_BUILD, buffer_of[table], buffer_of[source], *table, dx, dy))
    return _Chords(tuple(resolved), count, len(steps) - len(takes), len(takes))


def _chord_rows(chords, dilating, source, top, bottom, fp_shape, border, cval, dst, pad):
    """Rows ``top:bottom`` of the dilation (or erosion) of `source` (H, W, C) by chords,
    into `dst` (rows, W * C) or a scratch buffer; `pad`: the padded strip is not ready."""
    _, width, channels = source.shape
    h, w = fp_shape
    n = bottom - top
    padded = scratch((n + h - 1, width + w - 1, channels), source.dtype, _SLOT_PADDED)
    if pad:
        fill = cval
        if border == "ignore":  # a value that never wins
            info = np.iinfo(source.dtype) if source.dtype.kind == "u" else np.finfo(source.dtype)
            fill = float(info.min if dilating else info.max)
        _pad(source, top, bottom, fp_shape, border, fill, padded)
    if dst is None:
        dst = scratch((n, width * channels), source.dtype, _SLOT_HIGH if dilating else _SLOT_LOW)
    _apply(chords, cv2.max if dilating else cv2.min, padded, n, width * channels, channels, dst)
    return dst


def _apply(chords, op, padded, rows, size, channels, dst) -> None:
    """`dst` (rows, size) = the dilation (op=cv2.max) or erosion (cv2.min) of a padded strip."""
    padded = padded.reshape(padded.shape[0], -1)
    height, span = padded.shape
    buffers = [padded] + [
        scratch(padded.shape, padded.dtype, _SLOT_RUNS + i) for i in range(chords.buffers)
    ]
    taken = 0
    first = None
    for step in chords.steps:
        if step[0] == _BUILD:
            _, target, source, width, tall, dx, dy = step
            r, n = height - (tall - 1), span - (width - 1) * channels
            src = buffers[source]
            dx *= channels
            op(src[:r, :n], src[dy : dy + r, dx : dx + n], dst=buffers[target][:r, :n])
            continue
        _, source, row, x0 = step
        view = buffers[source][row : row + rows, x0 * channels : x0 * channels + size]
        if taken == 0:
            first = view
        elif taken == 1:
            op(first, view, dst=dst)
        else:
            op(dst, view, dst=dst)
        taken += 1
    if taken == 1:
        np.copyto(dst, first)


def _use_chords(fp: np.ndarray, image: np.ndarray, workers: int) -> bool:
    """Whether chords are predicted to beat OpenCV for this footprint and image."""
    chord_ns, opencv_ns = _predicted_ns(fp, image, workers)
    return chord_ns < _MARGIN * opencv_ns


def _predicted_ns(fp: np.ndarray, image: np.ndarray, workers: int) -> tuple[float, float]:
    """Predicted CPU time of one dilation by chords and by OpenCV, in ns."""
    return _prediction(fp.shape, fp.tobytes(), image.shape, image.dtype.name, workers)


@functools.lru_cache(maxsize=256)
def _prediction(fp_shape, bits, shape, dtype, workers) -> tuple[float, float]:
    chords = _chords_of(fp_shape, bits)
    h, w = fp_shape
    size = math.prod(shape)
    rows = _strip_rows("chords", shape, np.dtype(dtype).itemsize, fp_shape, workers)
    strips = -(-shape[0] // rows)
    base, per_point, rect_base, per_side, per_step = _COSTS[dtype]
    steps = chords.builds + chords.takes + 1  # + 1: the padding
    # Builds also run over the h - 1 rows around each strip.
    per_element = chords.builds * (rows + h - 1) / rows + chords.takes + 1
    chord_ns = _STEP_NS * strips * steps + per_step * per_element * size
    points = bits.count(1)
    if points == h * w:  # a rectangle: OpenCV's filter is separable
        opencv_ns = (rect_base + per_side * (h + w)) * size
    else:
        opencv_ns = (base + per_point * points) * size
    return chord_ns, opencv_ns


#: Costs in ns per image element, measured on a 2-core x86-64 with OpenCV 5 (one
#: thread, fastest of repeats, 1920x1080 and 512x512 photos): OpenCV's dilation,
#: ``base + per_point * points`` (its cost grows with the footprint's area) or, for a
#: rectangle (separable), ``rect_base + per_side * (height + width)``; and one step
#: of the chords (an elementwise maximum over a strip).
_COSTS = {  # dtype: (base, per_point, rect_base, per_side, per_step)
    "uint8": (0.044, 0.0088, 0.053, 0.0068, 0.028),
    "uint16": (0.081, 0.0164, 0.073, 0.0146, 0.058),
    "float32": (0.178, 0.0322, 0.187, 0.0278, 0.123),
    "float64": (0.172, 0.1087, 0.673, 0.1331, 0.248),
}
#: Fixed cost of one chord step on one strip (Python's and OpenCV's call overhead).
_STEP_NS = 3000.0
#: Chords must be predicted this much cheaper: near the crossover OpenCV is kept.
_MARGIN = 0.8
#: Predicted work per thread below which more threads cost more than they save
#: (handing a strip to another thread takes some 0.05 to 0.1 ms).
_THREAD_NS = 100_000.0
