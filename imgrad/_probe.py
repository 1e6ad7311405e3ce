"""Recognising image files and reading their headers, never their pixels.

The machinery behind :func:`imgrad.io.probe` and the checks :func:`imgrad.io.read`
makes before decoding: opening a file and naming its format from its magic bytes,
reading its header (Pillow for PNG, JPEG, BMP and WebP, tifffile, ``numpy.lib.format``)
into an :class:`~imgrad.io.ImageInfo`, and the pixel limit. Private: the public names
are re-exported by :mod:`imgrad.io`.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from imgrad._validation import IMAGE_DTYPES
from imgrad.errors import ImageReadError

#: Lower-case file extensions recognised as images.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".npy"})

_FORMAT_OF_EXTENSION = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
    ".webp": "webp",
    ".npy": "npy",
}
_TITLE = {
    "png": "PNG",
    "jpeg": "JPEG",
    "tiff": "TIFF",
    "bmp": "BMP",
    "webp": "WebP",
    "npy": "NumPy .npy",
}
_SUPPORTED = ", ".join(sorted(IMAGE_EXTENSIONS))
_DTYPE_NAMES = ", ".join(np.dtype(t).name for t in IMAGE_DTYPES)

_EXIF_ORIENTATION_TAG = 274  # 0x0112, the TIFF tag that EXIF borrows


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`probe` learns from a file header.

    Attributes
    ----------
    path : str
    format : {"png", "jpeg", "tiff", "bmp", "webp", "npy"}
        The format of the content, whatever the extension says.
    width, height : int
        Size of the array :func:`read` returns, after EXIF orientation
        (orientations 5 to 8 swap the stored width and height).
    channels : int
        Channels of that array (1 for a 2-D image).
    dtype : str
        NumPy dtype name of that array: "uint8", "uint16", "int16", "float32" or
        "float64".
    orientation : int
        EXIF / TIFF orientation, 1 to 8; 1 when absent or unreadable.
    """

    path: str
    format: str
    width: int
    height: int
    channels: int
    dtype: str
    orientation: int = 1

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height


# Defined here, public as imgrad.io.ImageInfo: its repr, pickles and docs name that module.
ImageInfo.__module__ = "imgrad.io"


# --------------------------------------------------------------------------- #
# Opening and recognising files
# --------------------------------------------------------------------------- #


@contextmanager
def _open_image(path: str) -> Iterator[tuple[BinaryIO, str]]:
    """Open an image file for reading and name its format (from its content).

    Checks, in order: the file exists, is not a directory, is not empty, has a
    supported extension, and starts with a supported format's magic bytes.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except OSError as exc:
        raise ImageReadError(path, _os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(path, "is a directory")
    if st.st_size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        shown = f"'{ext}'" if ext else "without extension"
        raise ImageReadError(path, f"unsupported format {shown} (supported: {_SUPPORTED})")
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise ImageReadError(path, _os_reason(exc)) from None
    with handle:
        fmt = _sniff(handle.read(16))
        if fmt is None:
            expected = _FORMAT_OF_EXTENSION[ext]
            noun = "file" if expected == "npy" else "image"
            raise ImageReadError(path, f"not a {_TITLE[expected]} {noun} (unrecognised header)")
        handle.seek(0)
        yield handle, fmt


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or _text(exc)


def _text(exc: BaseException) -> str:
    """An exception's message on one line (a KeyError's without its quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return " ".join(str(text).split())


def _sniff(head: bytes) -> str | None:
    """Format named by a file's first 16 bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    return None


def _check_pixel_limit(path: str, info: ImageInfo, limit: int) -> None:
    if info.pixels > limit:
        raise ImageReadError(
            path,
            f"image of {info.width} x {info.height} = {info.pixels:,} pixels exceeds "
            f"the limit of {limit:,} pixels (max_pixels)",
        )


# --------------------------------------------------------------------------- #
# Headers
# --------------------------------------------------------------------------- #


def _info(
    path: str, fmt: str, size: tuple[int, int], channels: int, dtype: str, orientation: int
) -> ImageInfo:
    width, height = size
    if orientation >= 5:  # these orientations transpose the stored image
        width, height = height, width
    return ImageInfo(path, fmt, width, height, channels, dtype, orientation)


def _pillow_header(plugin_class: type, handle: BinaryIO, path: str, fmt: str):
    # The plugin class is built directly rather than through PIL.Image.open, which
    # would apply Pillow's own decompression-bomb limit (a warning above ~89 Mpx,
    # an error above ~179 Mpx) instead of ours. Only the header is parsed here.
    try:
        return plugin_class(handle)
    except Exception as exc:  # any parser failure means a corrupt or cut header
        handle.seek(0)
        reason = _truncation(fmt, handle.read(8), os.fstat(handle.fileno()).st_size)
        reason = reason or f"corrupt {_TITLE[fmt]} header ({_text(exc)})"
        raise ImageReadError(path, reason) from None


def _truncation(fmt: str, head: bytes, size: int) -> str | None:
    """Reason if a BMP or WebP file is shorter than its header says, else None."""
    if fmt not in ("bmp", "webp") or len(head) < 8:
        return None
    # BMP states the file size at byte 2; RIFF (WebP) the size after byte 8 at byte 4.
    declared = struct.unpack_from("<I", head, 2 if fmt == "bmp" else 4)[0]
    declared += 0 if fmt == "bmp" else 8
    if declared <= size:
        return None
    return (
        f"truncated {_TITLE[fmt]} data (the header declares {declared:,} bytes, "
        f"the file holds {size:,})"
    )


def _exif_orientation(raw: bytes | None) -> int:
    """Orientation tag (1-8) of raw EXIF bytes; 1 if absent or unreadable."""
    if not raw:
        return 1
    from PIL import Image

    try:
        exif = Image.Exif()
        exif.load(raw)
        value = int(exif.get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # broken metadata must not make the pixels unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _probe_png(handle: BinaryIO, path: str) -> ImageInfo:
    from PIL import PngImagePlugin

    ihdr = handle.read(26)
    handle.seek(0)
    image = _pillow_header(PngImagePlugin.PngImageFile, handle, path, "png")
    bit_depth, color_type = ihdr[24], ihdr[25]  # Pillow parsed the IHDR, so they exist
    transparency = "transparency" in image.info
    # As OpenCV's decoder: grey+alpha is expanded to RGBA; palette and RGB become
    # RGBA when a transparency chunk is present; grey ignores it.
    channels = {0: 1, 2: 3 + transparency, 3: 3 + transparency, 4: 4, 6: 4}.get(color_type)
    if channels is None:
        raise ImageReadError(path, f"corrupt PNG header (colour type {color_type})")
    dtype = "uint16" if bit_depth == 16 else "uint8"
    orientation = _exif_orientation(image.info.get("exif"))
    return _info(path, "png", image.size, channels, dtype, orientation)


def _probe_jpeg(handle: BinaryIO, path: str) -> ImageInfo:
    from PIL import JpegImagePlugin

    image = _pillow_header(JpegImagePlugin.JpegImageFile, handle, path, "jpeg")
    channels = 1 if image.mode == "L" else 3  # OpenCV converts CMYK/YCCK to RGB
    orientation = _exif_orientation(image.info.get("exif"))
    return _info(path, "jpeg", image.size, channels, "uint8", orientation)


def _probe_bmp(handle: BinaryIO, path: str) -> ImageInfo:
    from PIL import BmpImagePlugin

    image = _pillow_header(BmpImagePlugin.BmpImageFile, handle, path, "bmp")
    channels = {"1": 1, "L": 1, "RGBA": 4}.get(image.mode, 3)
    return _info(path, "bmp", image.size, channels, "uint8", 1)


def _probe_webp(handle: BinaryIO, path: str) -> ImageInfo:
    from PIL import WebPImagePlugin

    image = _pillow_header(WebPImagePlugin.WebPImageFile, handle, path, "webp")
    channels = 4 if image.mode == "RGBA" else 3
    orientation = _exif_orientation(image.info.get("exif"))
    return _info(path, "webp", image.size, channels, "uint8", orientation)


def _probe_tiff(handle: BinaryIO, path: str) -> ImageInfo:
    import tifffile

    try:
        with tifffile.TiffFile(handle) as tif:
            page = tif.pages.first
            tag = page.tags.get(_EXIF_ORIENTATION_TAG)  # the same tag as in TIFF
            orientation = int(tag.value) if tag is not None else 1
            size = (page.imagewidth, page.imagelength)
            channels, depth, dtype = page.samplesperpixel, page.imagedepth, page.dtype
            if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
                channels, dtype = 3, np.dtype(np.uint8)  # expanded by _decode_tiff
    except Exception as exc:  # tifffile raises many types for a bad header
        raise ImageReadError(path, f"corrupt TIFF header ({_text(exc)})") from None
    if depth > 1:
        raise ImageReadError(path, f"volumetric TIFF pages (depth {depth}) are not supported")
    if dtype is None or dtype.type not in IMAGE_DTYPES:
        name = "unknown" if dtype is None else dtype.name
        raise ImageReadError(
            path, f"unsupported TIFF sample type {name} (supported: {_DTYPE_NAMES})"
        )
    orientation = orientation if 1 <= orientation <= 8 else 1
    return _info(path, "tiff", size, channels, dtype.name, orientation)


def _probe_npy(handle: BinaryIO, path: str) -> ImageInfo:
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = npy_format.read_array_header_2_0(handle)
    except Exception as exc:  # numpy raises ValueError, SyntaxError, ...
        raise ImageReadError(path, f"corrupt .npy header ({_text(exc)})") from None
    if dtype.hasobject:
        raise ImageReadError(
            path, f"holds Python objects (dtype {dtype}); only numeric arrays are read"
        )
    if dtype.type not in IMAGE_DTYPES:
        raise ImageReadError(path, f"unsupported .npy dtype {dtype} (supported: {_DTYPE_NAMES})")
    if len(shape) not in (2, 3):
        raise ImageReadError(
            path, f"unsupported .npy shape {shape} (an image is 2-D (H, W) or 3-D (H, W, C))"
        )
    if 0 in shape:
        raise ImageReadError(path, f"empty .npy array of shape {shape}")
    expected = int(np.prod(shape)) * dtype.itemsize
    available = os.fstat(handle.fileno()).st_size - handle.tell()
    if available < expected:
        raise ImageReadError(
            path,
            f"truncated .npy data (the header promises {expected:,} bytes, "
            f"the file holds {available:,})",
        )
    channels = shape[2] if len(shape) == 3 else 1
    return ImageInfo(path, "npy", shape[1], shape[0], channels, dtype.name, 1)


_PROBES: dict[str, Callable[[BinaryIO, str], ImageInfo]] = {
    "png": _probe_png,
    "jpeg": _probe_jpeg,
    "bmp": _probe_bmp,
    "webp": _probe_webp,
    "tiff": _probe_tiff,
    "npy": _probe_npy,
}
