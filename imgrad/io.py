"""Reading and writing image files: PNG, JPEG, TIFF, BMP, WebP and NumPy ``.npy``.

:func:`read` returns what the file holds, in the conventions of the rest of
imgrad: RGB (not OpenCV's BGR) channel order, (H, W) for grey images, RGBA kept
as four channels, 16-bit PNG/TIFF as uint16, float TIFF as float32/float64,
EXIF orientation applied. :func:`probe` reads the header only. :func:`write`
replaces its target atomically.

Codecs
------
PNG, JPEG, BMP and WebP are decoded and encoded by OpenCV, from and to bytes
that Python reads and writes itself (so Unicode paths work on every OS); TIFF
by tifffile; ``.npy`` by NumPy with ``allow_pickle=False``. Headers are read by
Pillow (PNG, JPEG, BMP, WebP), tifffile and ``numpy.lib.format``, without
decoding pixels, so the pixel limit of :func:`read` is enforced before any
pixel buffer exists.

Format
------
A file is recognised as an image by its extension (:data:`IMAGE_EXTENSIONS`),
and decoded according to its content (magic bytes): a ``.png`` file that holds
a JPEG is read as the JPEG it is, and :func:`probe` reports ``format="jpeg"``.
Content that is no supported format raises :class:`~imgrad.ImageReadError`.
"""

from __future__ import annotations

import os
import secrets
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from imgrad._validation import IMAGE_DTYPES, check_bool, check_image, check_int, fail
from imgrad.errors import ImageReadError, ImageWriteError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "TEMP_MARKER",
    "ImageInfo",
    "probe",
    "read",
    "write",
]

#: Lower-case file extensions recognised as images.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".npy"})

#: Present in the name of every temporary file imgrad writes, so that the
#: leftovers of a killed run can be found and removed.
TEMP_MARKER = ".imgrad-tmp-"

#: Largest image (width x height) :func:`read` decodes unless told otherwise.
DEFAULT_MAX_PIXELS = 2**28

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

# PNG written with compression=None: zlib level 1, Huffman coding only (no
# string matching) and the "sub" row filter only. Encoding dominates a batch;
# on 2.5 MP gradient magnitudes this is 1.2x faster than the run-length
# strategy with the same filter (OpenCV's default) for files 0.4% larger, and
# 2.4x faster than level 1 with libpng's adaptive filters for smaller files
# (see write() and the README's performance section).
_PNG_FAST_LEVEL = 1

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
        NumPy dtype name of that array: "uint8", "uint16", "float32" or "float64".
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


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def probe(path: str | os.PathLike) -> ImageInfo:
    """Read an image file's header, never its pixels.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ImageInfo
        Format, size, channels and dtype of the array :func:`read` would
        return, and the EXIF orientation.

    Raises
    ------
    imgrad.ImageReadError
        Missing, empty, unsupported or unrecognisable file, corrupt header.

    Examples
    --------
    >>> import os, tempfile, numpy as np, imgrad
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.png")
    >>> imgrad.write(path, np.zeros((3, 5, 3), np.uint16))
    >>> info = imgrad.probe(path)
    >>> info.format, info.width, info.height, info.channels, info.dtype
    ('png', 5, 3, 3, 'uint16')
    """
    path = _check_path(path, "probe")
    with _open_image(path) as (handle, fmt):
        return _PROBES[fmt](handle, path)


def read(
    path: str | os.PathLike, *, gray: bool = False, max_pixels: int | None = None
) -> np.ndarray:
    """Read an image file into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        A file whose extension is one of :data:`IMAGE_EXTENSIONS`.
    gray : bool
        Return a 2-D grey image. JPEGs are decoded straight to grey (libjpeg
        returns the stored luma plane without colour conversion: about 1.4x
        faster); their luma may differ from ``imgrad.gray(imgrad.read(path))``
        where the colour image is clipped (see Notes). Other files are decoded,
        then converted with :func:`imgrad.gray`, so the two are identical.
    max_pixels : int, optional
        Largest width x height accepted, checked from the header before any
        pixel is decoded; default :data:`DEFAULT_MAX_PIXELS` (2**28).

    Returns
    -------
    ndarray
        (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, in the stored dtype
        (uint8; uint16 for 16-bit PNG/TIFF; float32/float64 for float TIFF);
        ``.npy`` arrays as stored (2-D or 3-D). EXIF/TIFF orientation applied.

    Raises
    ------
    imgrad.ImageReadError
        For every failure, with the path and a one-line reason: file not found,
        is a directory, empty, unsupported extension, unrecognised content,
        truncated or corrupt data, unsupported dtype or shape, too many pixels.

    Notes
    -----
    - Gray+alpha PNGs are returned as (H, W, 4) RGBA with the grey value in
      R, G and B: OpenCV's decoder expands them so. Palette PNGs become RGB
      (RGBA with a transparency chunk), CMYK JPEGs RGB, 1/2/4-bit images uint8.
    - Orientation is read from the header (EXIF for JPEG, PNG's eXIf chunk
      before the pixel data, WebP; the Orientation tag for TIFF) and applied
      here, identically for every format and for ``gray=True``; the codecs are
      told to ignore it.
    - TIFF: the first page only; planar (separate) samples are returned as
      (H, W, C); palette TIFFs are expanded to 8-bit RGB. Sample types other than
      uint8, uint16, float32 and float64, and compressions that need the
      optional ``imagecodecs`` package (LZW, JPEG, ...), raise ImageReadError.
    - A JPEG is refused when no end-of-image marker (FF D9) follows its last
      start-of-scan marker (FF DA): some OpenCV versions return a partly grey
      image, with only a warning, for a JPEG cut inside its scan.
    - OpenCV refuses images above 2**30 pixels (its ``OPENCV_IO_MAX_IMAGE_PIXELS``)
      whatever `max_pixels` says.
    - Straight-to-grey decoding, measured on the sample photographs (and on
      their RGB PNGs saved as JPEG, quality 95): for JPEG 1.3x to 1.5x faster
      than decoding colour and converting; its luma differs from
      ``imgrad.gray`` on 0.06% to 1.4% of the pixels, by up to 17 grey levels
      on saturated colours that the RGB conversion clips, and it is at least
      as close to the luma of the original (lossless) photograph. libpng's grey
      conversion brings no speed (0.95x to 1.02x) and is one level darker on
      about half the pixels; OpenCV's BMP one is 2x slower, its WebP one no
      faster: these formats are therefore decoded in colour and converted.

    Examples
    --------
    >>> import os, tempfile, numpy as np, imgrad
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> rgb = np.zeros((2, 3, 3), np.uint8); rgb[..., 0] = 200
    >>> imgrad.write(path, rgb)
    >>> imgrad.read(path)[0, 0]
    array([200,   0,   0], dtype=uint8)
    >>> imgrad.read(path, gray=True)
    array([[60, 60, 60],
           [60, 60, 60]], dtype=uint8)
    """
    path = _check_path(path, "read")
    gray = check_bool(gray, param="gray", where="read")
    if max_pixels is None:
        limit = DEFAULT_MAX_PIXELS
    else:
        limit = check_int(max_pixels, param="max_pixels", where="read", low=1)
    with _open_image(path) as (handle, fmt):
        info = _PROBES[fmt](handle, path)
        _check_pixel_limit(path, info, limit)
        if gray and info.channels > 4:
            raise ImageReadError(
                path,
                f"cannot convert a {info.channels}-channel image to gray "
                "(gray=True needs 1 to 4 channels)",
            )
        handle.seek(0)
        image = _DECODERS[fmt](handle, path, info, gray)
    image = _orient(image, info.orientation)
    if gray and image.ndim == 3:
        from imgrad.filters import gray as to_gray

        image = to_gray(image)
    return image


def write(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    compression: int | str | None = None,
    quality: int = 95,
) -> None:
    """Write an array to an image file, atomically.

    The format follows the extension. The image is written to a temporary file
    in the target's folder (its name contains :data:`TEMP_MARKER`) and then
    renamed over the target with :func:`os.replace`: an existing file is only
    ever replaced by a complete new one, and the temporary file is removed if
    anything fails. (The rename is atomic; the data is not fsync'ed, so this
    protects against a killed process, not against a power cut.)

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist.
    array : ndarray
        RGB(A) channel order for colour. Allowed per format:

        ==========  ========================  =========================
        format      dtypes                    shapes
        ==========  ========================  =========================
        PNG         uint8, uint16             (H, W), (H, W, 1 | 3 | 4)
        TIFF        uint8, uint16, float32,   any (H, W) or (H, W, C)
                    float64
        NPY         as TIFF                   any (H, W) or (H, W, C)
        JPEG, BMP   uint8                     (H, W), (H, W, 1 | 3)
        WebP        uint8                     (H, W), (H, W, 1 | 3 | 4);
                                              grey is stored as RGB
        ==========  ========================  =========================

        Float images must be scaled to integers first for PNG, JPEG, BMP and
        WebP, e.g. with :func:`imgrad.scale` (the pipeline's ``scale`` step).
    compression : int or str, optional
        PNG: zlib level 0 (none) to 9, with zlib's default strategy. The
        default (None) is level 1 with Huffman coding only (Z_HUFFMAN_ONLY)
        and the "sub" filter: about as fast as no compression, with files
        within 10 % of the smallest zlib level (see Notes).
        TIFF: None (uncompressed, the default), "zlib" or "deflate" (two names
        of the same Adobe Deflate compression). Other formats: None.
    quality : int
        JPEG and WebP quality, 0 to 100 (lossy WebP even at 100). Default 95.

    Raises
    ------
    ValueError, TypeError
        Unsupported extension, dtype, shape or option (nothing is written).
    imgrad.ImageWriteError
        Missing folder, target is a directory, permission denied, disk full,
        encoder failure.

    Notes
    -----
    PNG settings measured on the six sample images (1.29 Mpx, 3.11 MB of
    pixels) and on their Sobel magnitudes ("sobel", scaled to uint8); best
    of 9 runs encoding all six, 2-core machine:

    ===========  =========  ==========  ==========  ==============
    compression  photos ms  photos B    sobel ms    sobel B
    ===========  =========  ==========  ==========  ==============
    None         29         1,807,671   12          757,557
    0            27         3,118,516   11          1,294,144
    1            65         1,785,360   29          787,828
    3            90         1,737,841   39          768,364
    6            199        1,676,130   93          736,057
    9            600        1,662,629   321         730,761
    ===========  =========  ==========  ==========  ==============

    Examples
    --------
    >>> import os, tempfile, numpy as np, imgrad
    >>> path = os.path.join(tempfile.mkdtemp(), "plane.tif")
    >>> imgrad.write(path, np.full((2, 2), 0.5, np.float32))
    >>> imgrad.read(path)
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """
    where = "write"
    path = _check_path(path, where)
    image = check_image(array, where=where, param="array")
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise fail("path", where, f"a file name ending in one of {{{_SUPPORTED}}}", path)
    fmt = _FORMAT_OF_EXTENSION[ext]
    _check_writable(image, fmt)
    quality = check_int(quality, param="quality", where=where, low=0, high=100)
    options = _encoder_options(fmt, compression, quality)
    if fmt != "npy" and image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]  # stored as a grey image; .npy keeps the shape it is given
    _write_atomically(path, lambda handle: _ENCODERS[fmt](handle, image, options))


# --------------------------------------------------------------------------- #
# Opening and recognising files
# --------------------------------------------------------------------------- #


def _check_path(path: object, where: str) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise fail("path", where, "a str or os.PathLike", path, TypeError)
    return path


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


# --------------------------------------------------------------------------- #
# Pixels
# --------------------------------------------------------------------------- #


def _decode_opencv(handle: BinaryIO, path: str, info: ImageInfo, gray: bool) -> np.ndarray:
    import cv2

    data = handle.read()
    if info.format == "jpeg" and not _jpeg_has_end(data):
        raise ImageReadError(path, "truncated JPEG (no end-of-image marker)")
    if gray and info.format == "jpeg":  # the only codec where it pays: see read()
        flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    else:
        flags = cv2.IMREAD_UNCHANGED  # never applies orientation
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    if image is None:
        raise ImageReadError(path, _diagnose(info.format, data))
    if image.ndim == 3:
        code = cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        image = cv2.cvtColor(image, code, dst=image)
    return image


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
    "tiff": ("uint8", "uint16", "float32", "float64"),
    "npy": ("uint8", "uint16", "float32", "float64"),
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
            cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
        ]  # fmt: skip
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
