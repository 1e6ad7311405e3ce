"""Images larger than memory, stored tile by tile: lazy reading, streamed writing.

:func:`open_image` returns a :class:`LazyImage`: the shape and dtype of an
image file, and regions of its pixels on demand (``image[r0:r1, c0:c1]``
reads only the tiles or strips that region needs). It holds no open file
and pickles as a few fields, so the workers of a cluster can each read their
own regions. :mod:`imgrad.dask` wraps it in a Dask array.

:func:`write_tiffs` writes tiled TIFFs from row bands of pixels, without ever
holding a whole image, and :func:`replacing` swaps finished outputs (TIFF
files or Zarr folders) in place of their targets, so that an interrupted
write never leaves a partial output under the final name.

This module needs no Dask; Zarr (for tiled and compressed TIFF, and Zarr
stores) is part of the ``dask`` extra: ``pip install "imgrad[dask]"``.

Formats
-------
=====================  =====================================================
``.tif``, ``.tiff``    first page; uncompressed contiguous data memory-mapped,
                       tiled or compressed data read tile by tile (or strip by
                       strip) through tifffile's Zarr store
``.zarr``              a Zarr array (not a group), (H, W) or (H, W, C)
``.npy``               memory-mapped
=====================  =====================================================

Pixels are returned as stored: (H, W) or (H, W, C), planar TIFF samples moved
last, in native byte order. TIFFs whose orientation tag asks for a flip or a
rotation, and palette TIFFs, are refused (:func:`imgrad.read` handles them).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from imgrad._validation import IMAGE_DTYPES, fail
from imgrad.errors import ImageReadError, ImageWriteError
from imgrad.io import TEMP_MARKER

__all__ = [
    "INSTALL_HINT",
    "TIFF_TILE",
    "LazyImage",
    "ZarrRegion",
    "create_zarr",
    "missing_extra",
    "open_image",
    "replacing",
    "write_tiffs",
]

#: How to get the optional dependencies of tiled and Dask processing.
INSTALL_HINT = 'pip install "imgrad[dask]"'
#: Tile shape (rows, columns) of the TIFFs written.
TIFF_TILE = (256, 256)

_TIFF_EXTENSIONS = (".tif", ".tiff")
_ORIENTATION_TAG = 274
_DTYPE_NAMES = "{" + ", ".join(np.dtype(t).name for t in IMAGE_DTYPES) + "}"


def missing_extra(what: str, exc: ImportError) -> ImportError:
    """The ImportError raised when an optional dependency is missing."""
    return ImportError(f"{what} needs the optional package {exc.name!r}: {INSTALL_HINT}")


def _import_zarr():
    try:
        import zarr
    except ImportError as exc:
        raise missing_extra("Tiled TIFF and Zarr input and output", exc) from None
    return zarr


# --- reading ---------------------------------------------------------------------


class LazyImage:
    """An image in a file, read region by region.

    Attributes
    ----------
    path : str
    format : {"tiff", "zarr", "npy"}
    shape : tuple of int
        (H, W) or (H, W, C).
    dtype : numpy.dtype
        uint8, uint16, int16, float32 or float64.
    chunks : tuple of int
        The shape of the pieces the file stores (tiles, strips, Zarr chunks);
        reading regions aligned to them wastes nothing.

    Notes
    -----
    Each read opens the file, reads and closes it: nothing stays open, any
    number of threads or processes may read at once, and pickling sends only
    the fields above. Opening costs about a millisecond (measured on a tiled
    8000 x 6000 TIFF) against some 15 ms to read a 1024 x 1024 region.
    """

    def __init__(
        self,
        path: str,
        format: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        chunks: tuple[int, ...],
        *,
        planar: bool = False,
        memmap: bool = False,
    ) -> None:
        self.path = path
        self.format = format
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.chunks = tuple(int(n) for n in chunks)
        self._planar = planar  # TIFF samples stored first: (C, H, W) on disk
        self._memmap = memmap
        self._stamp = _stamp(path)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __repr__(self) -> str:
        return (
            f"LazyImage({self.path!r}, format={self.format!r}, shape={self.shape}, "
            f"dtype={self.dtype.name})"
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        """Read a region: ``image[r0:r1, c0:c1]`` (basic indexing only)."""
        key = _full_key(key, self.ndim)
        if self._planar:  # stored (C, H, W): read as slices, then move C last
            dropped = tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key)
            key = tuple(
                slice(k, k + 1 if k != -1 else None) if d == 0 else k
                for k, d in zip(key, dropped, strict=True)
            )
            key = (key[2], key[0], key[1])
        try:
            region = self._read(key)
        except (ImageReadError, ImportError):
            raise
        except Exception as exc:  # decoders and stores raise many types
            raise ImageReadError(self.path, f"cannot read pixels ({_text(exc)})") from None
        if self._planar:
            region = np.moveaxis(region, 0, -1)[dropped]
        if not region.dtype.isnative:
            region = region.astype(region.dtype.newbyteorder("="))
        return np.ascontiguousarray(region)

    def _read(self, key: tuple) -> np.ndarray:
        if self.format == "npy":
            return np.array(np.load(self.path, mmap_mode="r", allow_pickle=False)[key])
        if self.format == "zarr":
            return np.asarray(_import_zarr().open_array(self.path, mode="r")[key])
        import tifffile

        if self._memmap:
            return np.array(tifffile.memmap(self.path, page=0, mode="r")[key])
        zarr = _import_zarr()
        with tifffile.imread(self.path, aszarr=True, key=0) as store:
            return np.asarray(zarr.open_array(store, mode="r")[key])

    def __reduce__(self):
        return _rebuild, (self.__dict__,)

    def __dask_tokenize__(self):
        return ("imgrad.LazyImage", self.path, self._stamp, self.shape, self.dtype.str)


def _rebuild(state: dict) -> LazyImage:
    image = LazyImage.__new__(LazyImage)
    image.__dict__.update(state)
    return image


def open_image(path: str | os.PathLike[str]) -> LazyImage:
    """Open a big image file for reading region by region.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tif``/``.tiff`` file, a ``.zarr`` array folder or a ``.npy`` file.

    Returns
    -------
    LazyImage
        Nothing but the header is read.

    Raises
    ------
    imgrad.ImageReadError
        Missing or unreadable file, unsupported format, dtype or layout.
    ImportError
        Zarr is missing (needed for tiled or compressed TIFF and Zarr).

    Examples
    --------
    >>> import os, tempfile, numpy as np, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "big.tif")
    >>> tifffile.imwrite(path, np.arange(600 * 500, dtype=np.float32).reshape(600, 500),
    ...                  tile=(256, 256))
    >>> image = open_image(path)
    >>> image.shape, image.dtype.name, image.chunks
    ((600, 500), 'float32', (256, 256))
    >>> float(image[300:302, 400:403][1, 2])
    150902.0
    """
    if not isinstance(path, (str, os.PathLike)):
        raise fail("path", "open_image", "a str or os.PathLike", path, TypeError)
    given = os.fspath(path)
    path = os.path.abspath(given)  # the same file for workers in other folders
    try:
        if not os.path.exists(path):
            raise ImageReadError(path, "file not found")
        ext = os.path.splitext(path.rstrip("/" + os.sep))[1].lower()
        if ext in _TIFF_EXTENSIONS:
            image = _open_tiff(path)
        elif ext == ".zarr":
            image = _open_zarr(path)
        elif ext == ".npy":
            image = _open_npy(path)
        else:
            shown = f"'{ext}'" if ext else "without extension"
            raise ImageReadError(
                path,
                f"unsupported format {shown} for tiled reading (supported: .tif, .tiff, "
                ".zarr, .npy)",
            )
        _check_layout(image)
    except ImageReadError as exc:  # name the file as the caller did
        raise ImageReadError(given, exc.reason) from None
    return image


def _open_tiff(path: str) -> LazyImage:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            tag = page.tags.get(_ORIENTATION_TAG)
            orientation = int(tag.value) if tag is not None else 1
            palette = page.photometric == tifffile.PHOTOMETRIC.PALETTE
            planar = (
                page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and page.samplesperpixel > 1
            )
            memmap = bool(page.is_memmappable)
            depth, dtype, stored = page.imagedepth, page.dtype, page.shaped
    except Exception as exc:  # tifffile raises many types for a bad header
        raise ImageReadError(path, f"corrupt TIFF header ({_text(exc)})") from None
    if depth > 1:
        raise ImageReadError(path, f"volumetric TIFF pages (depth {depth}) are not supported")
    if palette:
        raise ImageReadError(path, "palette TIFFs cannot be read tile by tile; use imgrad.read")
    if orientation not in (0, 1):
        raise ImageReadError(
            path,
            f"the TIFF orientation tag ({orientation}) asks for a flip or rotation, which tiled "
            "reading does not apply; use imgrad.read",
        )
    if dtype is None:
        raise ImageReadError(path, f"unsupported TIFF sample type (supported: {_DTYPE_NAMES})")
    # page.shaped: (separate samples, depth, length, width, contiguous samples)
    height, width = stored[2], stored[3]
    samples = stored[0] if planar else stored[4]
    shape = (height, width) if samples == 1 else (height, width, samples)
    if memmap:
        chunks = shape
    else:
        zarr = _import_zarr()
        try:
            with tifffile.imread(path, aszarr=True, key=0) as store:
                native = zarr.open_array(store, mode="r").chunks
        except Exception as exc:
            raise ImageReadError(path, f"cannot read the TIFF as tiles ({_text(exc)})") from None
        rows_cols = native[1:3] if planar else native[:2]
        chunks = (*rows_cols, samples)[: len(shape)]
    return LazyImage(path, "tiff", shape, dtype, chunks, planar=planar, memmap=memmap)


def _open_zarr(path: str) -> LazyImage:
    zarr = _import_zarr()
    try:
        array = zarr.open_array(path, mode="r")
        shape, dtype, chunks = array.shape, array.dtype, array.chunks
    except Exception as exc:
        raise ImageReadError(path, f"not a readable Zarr array ({_text(exc)})") from None
    return LazyImage(path, "zarr", shape, np.dtype(dtype), chunks)


def _open_npy(path: str) -> LazyImage:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise ImageReadError(path, f"corrupt .npy data ({_text(exc)})") from None
    chunks = (max(1, min(array.shape[0], 2**20 // max(1, array.itemsize * array[0].size))),)
    return LazyImage(path, "npy", array.shape, array.dtype, chunks + array.shape[1:])


def _check_layout(image: LazyImage) -> None:
    if image.ndim not in (2, 3) or 0 in image.shape:
        raise ImageReadError(
            image.path, f"holds an array of shape {image.shape}; expected (H, W) or (H, W, C)"
        )
    if image.dtype.newbyteorder("=").type not in IMAGE_DTYPES:
        raise ImageReadError(
            image.path, f"unsupported sample type {image.dtype.name} (supported: {_DTYPE_NAMES})"
        )


def _full_key(key: Any, ndim: int) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (ndim - len(key) + 1) + key[at + 1 :]
    return key + (slice(None),) * (ndim - len(key))


def _stamp(path: str) -> tuple[int, int]:
    """Modification time and size: a changed file gets a new Dask token."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --- writing ---------------------------------------------------------------------


@contextlib.contextmanager
def replacing(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[str]]:
    """Write outputs under temporary names, then move them over their targets.

    Yields one temporary path per target, in the target's folder (named
    ``.<name>.imgrad-tmp-<random>``, as every temporary file imgrad writes).
    On success each is renamed over its target with :func:`os.replace`; on
    any exception they are all removed and the targets are left untouched.
    Temporaries left by an interrupted earlier write of a target are removed
    first.

    A target that is a folder (an older Zarr store) is renamed aside, then
    removed once the new one is in place: between the two renames the name is
    briefly absent, never partial. A folder that holds anything but a Zarr
    store is not replaced.
    """
    targets = [os.path.abspath(os.fspath(p)) for p in paths]
    temps = []
    for target in targets:
        folder, name = os.path.split(target)
        if not os.path.isdir(folder):
            raise ImageWriteError(target, f"the folder {folder} does not exist")
        if os.path.isdir(target) and not _is_zarr_store(target):
            raise ImageWriteError(target, "is a folder that holds no Zarr store; not replaced")
        for stale in os.listdir(folder):  # left by an interrupted write of the same target
            if stale.startswith(f".{name}{TEMP_MARKER}"):
                _remove(os.path.join(folder, stale))
        temps.append(os.path.join(folder, f".{name}{TEMP_MARKER}{secrets.token_hex(8)}"))
    try:
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            _move_into_place(temp, target)
    except BaseException as exc:
        for temp in temps:
            _remove(temp)
        if isinstance(exc, OSError) and not isinstance(exc, (ImageWriteError, ImageReadError)):
            raise ImageWriteError(
                getattr(exc, "filename", None) or targets[0], _text(exc)
            ) from exc
        raise


def _move_into_place(temp: str, target: str) -> None:
    if os.path.isdir(target) or (os.path.isdir(temp) and os.path.lexists(target)):
        folder, name = os.path.split(target)
        aside = os.path.join(folder, f".{name}{TEMP_MARKER}{secrets.token_hex(8)}")
        os.replace(target, aside)
        os.replace(temp, target)
        _remove(aside)
    else:
        os.replace(temp, target)


def _is_zarr_store(path: str) -> bool:
    names = set(os.listdir(path))
    return not names or bool(names & {"zarr.json", ".zarray", ".zgroup"})


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def create_zarr(
    path: str | os.PathLike[str],
    shape: tuple[int, ...],
    dtype: Any,
    chunks: tuple[int, ...],
):
    """Create an empty Zarr array folder (to be filled chunk by chunk).

    Written in the Zarr library's default format and compression; every
    chunk is meant to be written once, so writers aligned to `chunks` need
    no lock.
    """
    zarr = _import_zarr()
    return zarr.open_array(
        os.fspath(path), mode="w", shape=shape, chunks=chunks, dtype=np.dtype(dtype)
    )


class ZarrRegion:
    """Write target for one Zarr array: ``target[region] = block``.

    Opens the array for each write, so it pickles as its path and any thread
    or process may write (regions aligned to the chunks need no lock).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def __setitem__(self, key: Any, value: np.ndarray) -> None:
        _import_zarr().open_array(self.path, mode="r+")[key] = value

    def __repr__(self) -> str:
        return f"ZarrRegion({self.path!r})"


def write_tiffs(
    paths: Sequence[str],
    bands: Iterable[Sequence[np.ndarray]],
    *,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[Any],
    compression: str | None = None,
) -> None:
    """Write several tiled TIFFs at once from row bands, in bounded memory.

    Parameters
    ----------
    paths : sequence of str
        Files written (directly: wrap in :func:`replacing` for atomic writes).
    bands : iterable of sequences of ndarray
        Consecutive horizontal bands, top to bottom: each item holds one
        array per path, all with the same number of rows, any number of rows
        per band; together they cover ``shapes[i][0]`` rows.
    shapes, dtypes : sequences
        Shape (H, W) or (H, W, C) and dtype of each image.
    compression : {None, "zlib"}
        None (uncompressed) or Adobe Deflate.

    Notes
    -----
    One thread per file feeds tifffile with :data:`TIFF_TILE` tiles; each
    holds at most one band waiting plus the rows of one tile row, so memory
    stays at a few bands whatever the image size. Images of 4 GiB and more
    are written as BigTIFF.
    """
    streams = [
        _TiffStream(path, tuple(shape), np.dtype(dtype), compression)
        for path, shape, dtype in zip(paths, shapes, dtypes, strict=True)
    ]
    try:
        for band in bands:
            if len(band) != len(streams):
                raise ValueError(f"a band holds {len(band)} arrays for {len(streams)} files")
            for stream, rows in zip(streams, band, strict=True):
                stream.put(rows)
        for stream in streams:
            stream.finish()
    finally:
        for stream in streams:
            stream.abort()


_END = object()
_ABORT = object()


class _Aborted(Exception):
    """Raised inside a TIFF writer thread when the producer gives up."""


class _TiffStream:
    """A thread writing one tiled TIFF from bands put into a one-slot queue."""

    def __init__(self, path: str, shape, dtype: np.dtype, compression: str | None) -> None:
        self.path, self.shape, self.dtype = path, shape, dtype
        self.compression = compression
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._rows = 0
        self._thread = threading.Thread(target=self._run, name="imgrad-tiff-writer", daemon=True)
        self._thread.start()

    def put(self, rows: np.ndarray) -> None:
        if rows.shape[1:] != self.shape[1:] or rows.dtype != self.dtype:
            raise ValueError(
                f"a band of shape {rows.shape} and dtype {rows.dtype} does not fit the image "
                f"{self.path} of shape {self.shape} and dtype {self.dtype}"
            )
        if not rows.shape[0]:
            return
        if self._rows + rows.shape[0] > self.shape[0]:
            raise ValueError(f"the bands hold more than the {self.shape[0]} rows of {self.path}")
        self._rows += rows.shape[0]
        self._queue.put(rows)  # never blocks for long: a failed writer drains its queue
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        if self._rows != self.shape[0]:
            raise ValueError(f"the bands hold {self._rows} of the {self.shape[0]} rows")
        self._queue.put(_END)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_ABORT)
            self._thread.join()

    def _run(self) -> None:
        import tifffile

        try:
            rgb = len(self.shape) == 3 and self.shape[2] in (3, 4)
            tifffile.imwrite(
                self.path,
                data=self._tiles(),
                shape=self.shape,
                dtype=self.dtype,
                tile=TIFF_TILE,
                photometric="rgb" if rgb else "minisblack",
                planarconfig="contig" if len(self.shape) == 3 else None,
                compression=self.compression,
                bigtiff=self.shape[0] * int(np.prod(self.shape[1:])) * self.dtype.itemsize
                >= 2**32 - 2**25,
                metadata=None,
            )
        except BaseException as exc:
            self.error = exc
            if not isinstance(exc, _Aborted):
                # Keep taking bands until the producer sees the error and stops.
                item = None
                while item is not _END and item is not _ABORT:
                    item = self._queue.get()

    def _tiles(self) -> Iterator[np.ndarray]:
        height, width = self.shape[:2]
        tile_rows, tile_cols = TIFF_TILE
        pending: list[np.ndarray] = []
        held = done = 0
        while done < height:
            item = self._queue.get()
            if item is _ABORT:
                raise _Aborted(self.path)
            if item is _END:
                raise ValueError(f"the bands end after {done + held} of {height} rows")
            pending.append(item)
            held += item.shape[0]
            while held >= tile_rows or (held and done + held == height):
                rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
                take = min(tile_rows, held)
                strip, rest = rows[:take], rows[take:]
                for col in range(0, width, tile_cols):
                    yield strip[:, col : col + tile_cols]
                pending = [rest] if rest.shape[0] else []
                held -= take
                done += take
