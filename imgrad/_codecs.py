"""Decoding and encoding pixels, per format, and replacing files atomically.

The machinery behind :func:`imgrad.io.read` and :func:`imgrad.io.write`: OpenCV for
PNG, JPEG, BMP and WebP (from and to bytes), tifffile for TIFF, NumPy for ``.npy``;
the diagnosis of files a codec rejects; EXIF orientation; what each format can
store; and the temporary file renamed over the target. Private: the public names
are re-exported by :mod:`imgrad.io`.
"""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from imgrad._probe import _TITLE, ImageInfo, _os_reason, _text, _truncation
from imgrad._validation import check_int, fail
from imgrad.errors import ImageReadError, ImageWriteError

#: Present in the name of every temporary file imgrad writes, so that the
#: leftovers of a killed run can be found and removed.
TEMP_MARKER = ".imgrad-tmp-"

# PNG written with compression=None: zlib level 1, Huffman coding only (no
# string matching) and the "sub" row filter only. Encoding dominates a batch;
# on 2.5 MP gradient magnitudes this is 1.2x faster than the run-length
# strategy with the same filter (OpenCV's default) for files 0.4% larger, and
# 2.4x faster than level 1 with libpng's adaptive filters for smaller files
# (see write() and the README's performance section).
_PNG_FAST_LEVEL = 1

#: The PNG chunks OpenCV's decoder gives the pixels from: the critical ones (an
#: upper-case first letter), transparency, and APNG's frames (OpenCV >= 4.11
#: decodes animations). The other ancillary chunks (colour profiles, gamma, text,
#: EXIF, ...) never change what ``cv2.imdecode`` returns, but libpng checks them
#: and prints what it dislikes straight to file descriptor 2 (``libpng warning:
#: iCCP: known incorrect sRGB profile``), through any progress bar. Orientation
#: is read from the file itself (see ``_probe``), not from what OpenCV gets.
_PNG_PIXEL_CHUNKS = frozenset({b"tRNS", b"acTL", b"fcTL", b"fdAT"})


# --------------------------------------------------------------------------- #
# Pixels
# --------------------------------------------------------------------------- #


def _decode_opencv(handle: BinaryIO, path: str, info: ImageInfo, gray: bool) -> np.ndarray:
    import cv2

    data = stored = handle.read()
    if info.format == "jpeg" and not _jpeg_has_end(data):
        raise ImageReadError(path, "truncated JPEG (no end-of-image marker)")
    if info.format == "png":
        data = _pixel_chunks(stored)
    if gray and info.format == "jpeg":  # the only codec where it pays: see read()
        flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    else:
        flags = cv2.IMREAD_UNCHANGED  # never applies orientation
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    if image is None:
        raise ImageReadError(path, _diagnose(info.format, stored))  # positions in the file
    if image.ndim == 3:
        code = cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        image = cv2.cvtColor(image, code, dst=image)
    return image


def _pixel_chunks(data: bytes) -> bytes:
    """A PNG stream without the ancillary chunks that do not change its pixels.

    Chunks are copied whole, CRCs included, so libpng checks what it decodes as
    before. From a chunk that does not fit in the stream on, the rest is kept as
    it is, for the decoder to refuse as before.
    """
    view = memoryview(data)
    kept = []
    start = position = 8  # after the signature; `start`: first byte of the run kept
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data) or kind == b"IEND":
            break
        if not (kind[:1].isupper() or kind in _PNG_PIXEL_CHUNKS):
            kept.append(view[start:position])
            start = end
        position = end
    if start == 8:
        return data  # nothing to drop: no copy
    kept.append(view[start:])
    return data[:8] + b"".join(kept)


def _jpeg_has_end(data: bytes) -> bool:
    # Entropy-coded data never contains FF D9, so a complete file has an
    # end-of-image marker after its last start-of-scan marker.
    last_scan = data.rfind(b"\xff\xda")
    return last_scan >= 0 and data.find(b"\xff\xd9", last_scan + 2) >= 0


def _diagnose(fmt: str, data: bytes) -> str:
    """Reason a codec rejected a file whose header was fine."""
    if fmt == "png":
        return _diagnose_png(data)
    return _truncation(fmt, data[:8], len(data)) or (
        f"corrupt {_TITLE[fmt]} data (the decoder rejected it)"
    )


def _diagnose_png(data: bytes) -> str:
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        name = kind.decode("latin-1")
        end = position + 12 + length
        if end > len(data):
            return f"truncated PNG data (the file ends inside the {name} chunk)"
        crc = struct.unpack_from(">I", data, end - 4)[0]
        if zlib.crc32(data[position + 4 : end - 4]) != crc:
            return f"corrupt PNG data (CRC mismatch in the {name} chunk at byte {position:,})"
        if kind == b"IEND":
            return "corrupt PNG data (the decoder rejected the pixel data)"
        position = end
    return "truncated PNG data (the file ends before the IEND chunk)"


def _decode_tiff(handle: BinaryIO, path: str, info: ImageInfo, gray: bool) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(handle) as tif:
            page = tif.pages.first
            image = page.asarray()
            separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
            if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
                # 16-bit colour map entries; the high byte is the 8-bit value
                # whether a writer stored v * 256 or v * 257.
                colormap = (page.colormap >> 8).astype(np.uint8)
                image = np.ascontiguousarray(colormap[:, image].transpose(1, 2, 0))
    except Exception as exc:  # short reads, missing codecs, corrupt strips
        text = _text(exc)
        if "failed to read" in text:
            kind = "truncated"
        elif "imagecodecs" in text:  # LZW, JPEG, ... need that optional package
            kind = "unsupported"
        else:
            kind = "corrupt"
        raise ImageReadError(path, f"{kind} TIFF data ({text})") from None
    if separate and info.channels > 1:
        image = np.moveaxis(image, 0, -1)
    return _native(image)


def _decode_npy(handle: BinaryIO, path: str, info: ImageInfo, gray: bool) -> np.ndarray:
    try:
        image = np.load(handle, allow_pickle=False)
    except Exception as exc:
        raise ImageReadError(path, f"corrupt .npy data ({_text(exc)})") from None
    return _native(image)


def _native(image: np.ndarray) -> np.ndarray:
    """C-contiguous, native byte order."""
    if not image.dtype.isnative:
        image = image.astype(image.dtype.newbyteorder("="))
    return np.ascontiguousarray(image)


_DECODERS: dict[str, Callable[[BinaryIO, str, ImageInfo, bool], np.ndarray]] = {
    "png": _decode_opencv,
    "jpeg": _decode_opencv,
    "bmp": _decode_opencv,
    "webp": _decode_opencv,
    "tiff": _decode_tiff,
    "npy": _decode_npy,
}


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to a stored image, giving the displayed one."""
    if orientation == 1:
        return image
    if orientation >= 5:  # 5-8 start with a transpose
        image = image.swapaxes(0, 1)
    flip_rows, flip_cols = {
        2: (False, True),
        3: (True, True),
        4: (True, False),
        5: (False, False),
        6: (False, True),
        7: (True, True),
        8: (True, False),
    }[orientation]
    image = image[::-1] if flip_rows else image
    image = image[:, ::-1] if flip_cols else image
    return np.ascontiguousarray(image)


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #

_WRITE_DTYPES = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "bmp": ("uint8",),
    "webp": ("uint8",),
    "tiff": ("uint8", "uint16", "int16", "float32", "float64"),
    "npy": ("uint8", "uint16", "int16", "float32", "float64"),
}
# Channel counts of (H, W, C) arrays; None: any. A 2-D array is always allowed.
_WRITE_CHANNELS: dict[str, tuple[int, ...] | None] = {
    "png": (1, 3, 4),
    "jpeg": (1, 3),
    "bmp": (1, 3),
    "webp": (1, 3, 4),
    "tiff": None,
    "npy": None,
}


def _check_writable(image: np.ndarray, fmt: str) -> None:
    title = _TITLE[fmt]
    dtypes = _WRITE_DTYPES[fmt]
    if image.dtype.name not in dtypes:
        if image.dtype.kind == "f":
            hint = (
                "; scale float images to integers first, e.g. with imgrad.scale or "
                "the pipeline's 'scale' step, or write TIFF or NPY"
            )
        elif image.dtype.kind == "i":  # PNG and JPEG samples are unsigned
            hint = (
                "; signed int16 images can be written exactly as TIFF or NPY, or scaled "
                "to unsigned integers first with imgrad.scale"
            )
        else:
            hint = "; 16-bit images can be written as PNG, TIFF or NPY"
        raise fail(
            "array", "write", f"of dtype {' or '.join(dtypes)} for {title} files{hint}", image
        )
    channels = _WRITE_CHANNELS[fmt]
    if image.ndim == 3 and channels is not None and image.shape[2] not in channels:
        allowed = "(H, W) or (H, W, C) with C in {" + ", ".join(map(str, channels)) + "}"
        raise fail("array", "write", f"{allowed} for {title} files", image)


def _encoder_options(fmt: str, compression: object, quality: int) -> dict:
    where = "write"
    if fmt == "png":
        if compression is None:
            return {"level": None}
        return {"level": check_int(compression, param="compression", where=where, low=0, high=9)}
    if fmt == "tiff":
        if compression is None:
            return {"compression": None}
        if isinstance(compression, str) and compression in ("zlib", "deflate"):
            return {"compression": "zlib"}  # two names of Adobe Deflate
        raise fail("compression", where, "None, 'zlib' or 'deflate' for TIFF files", compression)
    if compression is not None:
        raise fail("compression", where, f"None for {_TITLE[fmt]} files", compression)
    return {"quality": quality}


def _write_atomically(path: str, encode: Callable[[BinaryIO], None]) -> None:
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageWriteError(path, f"the folder {folder} does not exist")
    if os.path.isdir(path):
        raise ImageWriteError(path, "is a directory")
    temp = os.path.join(folder, f".{name}{TEMP_MARKER}{secrets.token_hex(8)}")
    try:
        # Not tempfile.mkstemp: its files are private (0600); this one gets the
        # permissions of any new file.
        with open(temp, "xb") as handle:
            encode(handle)
        os.replace(temp, path)
    except BaseException as exc:
        try:
            os.remove(temp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, ImageWriteError):
            raise ImageWriteError(path, _os_reason(exc)) from exc
        raise


def _encode_opencv(fmt: str, image: np.ndarray, params: list[int]) -> bytes:
    import cv2

    image = np.ascontiguousarray(image)
    if image.ndim == 3:
        code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    ok, buffer = cv2.imencode("." + fmt, image, params)
    if not ok:  # pragma: no cover - inputs are checked before
        raise OSError(f"the {fmt.upper()} encoder failed")
    return buffer.tobytes()


def _write_png(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    import cv2

    level = options["level"]
    if level is None:
        params = [
            cv2.IMWRITE_PNG_COMPRESSION, _PNG_FAST_LEVEL,
            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
        ]  # fmt: skip
        if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.12; before, libpng's choice
            params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    handle.write(_encode_opencv("png", image, params))


def _write_jpeg(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, options["quality"]]
    handle.write(_encode_opencv("jpg", image, params))


def _write_bmp(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    handle.write(_encode_opencv("bmp", image, []))


def _write_webp(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    import cv2

    params = [cv2.IMWRITE_WEBP_QUALITY, max(1, options["quality"])]
    handle.write(_encode_opencv("webp", image, params))


def _write_tiff(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    import tifffile

    rgb = image.ndim == 3 and image.shape[2] in (3, 4)
    tifffile.imwrite(
        handle,
        image,
        photometric="rgb" if rgb else "minisblack",
        planarconfig="contig" if image.ndim == 3 else None,
        compression=options["compression"],
        metadata=None,
    )


def _write_npy(handle: BinaryIO, image: np.ndarray, options: dict) -> None:
    np.save(handle, image, allow_pickle=False)


_ENCODERS: dict[str, Callable[[BinaryIO, np.ndarray, dict], None]] = {
    "png": _write_png,
    "jpeg": _write_jpeg,
    "bmp": _write_bmp,
    "webp": _write_webp,
    "tiff": _write_tiff,
    "npy": _write_npy,
}
