"""Reading and writing image files: PNG, JPEG, TIFF, BMP, WebP and NumPy ``.npy``.

:func:`read` returns what the file holds, in the conventions of the rest of
imgrad: RGB (not OpenCV's BGR) channel order, (H, W) for grey images, RGBA kept
as four channels, 16-bit PNG/TIFF as uint16, signed 16-bit TIFF as int16,
float TIFF as float32/float64, EXIF orientation applied. :func:`probe` reads
the header only. :func:`write` replaces its target atomically.

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

Machinery: :mod:`imgrad._probe` (files, headers), :mod:`imgrad._codecs` (pixels, writing).
"""

from __future__ import annotations

import os

import numpy as np

from imgrad._codecs import (
    _DECODERS,
    _ENCODERS,
    TEMP_MARKER,
    _check_writable,
    _encoder_options,
    _orient,
    _write_atomically,
)
from imgrad._probe import (
    _FORMAT_OF_EXTENSION,
    _PROBES,
    _SUPPORTED,
    IMAGE_EXTENSIONS,
    ImageInfo,
    _check_pixel_limit,
    _open_image,
)
from imgrad._validation import check_bool, check_image, check_int, fail
from imgrad.errors import ImageReadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "TEMP_MARKER",
    "ImageInfo",
    "probe",
    "read",
    "write",
]

#: Largest image (width x height) :func:`read` decodes unless told otherwise.
DEFAULT_MAX_PIXELS = 2**28


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
        (uint8; uint16 for 16-bit PNG/TIFF; int16 for signed 16-bit TIFF;
        float32/float64 for float TIFF);
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
      uint8, uint16, int16, float32 and float64, and compressions that need the
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
        TIFF        uint8, uint16, int16,     any (H, W) or (H, W, C)
                    float32, float64
        NPY         as TIFF                   any (H, W) or (H, W, C)
        JPEG, BMP   uint8                     (H, W), (H, W, 1 | 3)
        WebP        uint8                     (H, W), (H, W, 1 | 3 | 4);
                                              grey is stored as RGB
        ==========  ========================  =========================

        Float images must be scaled to integers first for PNG, JPEG, BMP and
        WebP, e.g. with :func:`imgrad.scale` (the pipeline's ``scale`` step);
        so must int16 images, whose signed samples these formats cannot hold.
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
# Arguments
# --------------------------------------------------------------------------- #


def _check_path(path: object, where: str) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise fail("path", where, "a str or os.PathLike", path, TypeError)
    return path
