"""Tests of imgrad.io on real files, checked with independent readers and writers
(Pillow, tifffile, NumPy, zlib)."""

from __future__ import annotations

import importlib.util
import io as stdio
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

import imgrad
import imgrad.io
from imgrad import ImageReadError, ImageWriteError
from imgrad.io import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, TEMP_MARKER, probe, read, write

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
BT601 = np.array([0.299, 0.587, 0.114])


def random_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def photo(channels=3, size=(48, 64)):
    """A crop of a real photograph: lossy codecs behave as they do on photos."""
    rgb = np.asarray(Image.open(SAMPLES / "astronaut.png").convert("RGB"))[100:, 150:]
    crop = np.ascontiguousarray(rgb[: size[0], : size[1]])
    if channels == 1:
        return np.asarray(Image.fromarray(crop).convert("L"))
    if channels == 4:
        alpha = np.linspace(0, 255, crop.shape[0] * crop.shape[1]).reshape(crop.shape[:2])
        return np.dstack([crop, alpha.astype(np.uint8)])
    return crop


def pil_array(path, mode=None):
    with Image.open(path) as image:
        return np.asarray(image.convert(mode) if mode else image)


def files_in(folder):
    return sorted(os.listdir(folder))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_zero_png(path, width, height):
    """A valid 8-bit grey PNG of zeros, compressed as it is built (no pixel buffer)."""
    compressor = zlib.compressobj(9)
    rows = bytes(width + 1) * 1000  # filter byte 0 and the row's pixels, 1000 rows
    parts = [compressor.compress(rows) for _ in range(height // 1000)]
    parts.append(compressor.compress(bytes(width + 1) * (height % 1000)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr))
        f.write(png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def huge_png(tmp_path_factory) -> Path:
    """17000 x 17000 zeros: 289,000,000 pixels in a file of about 280 KB."""
    path = tmp_path_factory.mktemp("huge") / "zeros.png"
    write_zero_png(path, 17000, 17000)
    return path


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #


def test_constants():
    assert IMAGE_EXTENSIONS == frozenset(
        {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".npy"}
    )
    assert TEMP_MARKER == ".imgrad-tmp-"
    assert DEFAULT_MAX_PIXELS == 2**28
    assert isinstance(IMAGE_EXTENSIONS, frozenset)


def test_public_names_reach_the_package():
    assert imgrad.read is read and imgrad.write is write and imgrad.probe is probe


def test_import_is_light():
    code = (
        "import sys, imgrad; assert 'imgrad.io' not in sys.modules; "
        "import imgrad.io; "
        "print(sorted(m for m in ('cv2', 'PIL', 'tifffile') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- #
# Round trips, checked with independent readers
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("shape", [(23, 31), (23, 31, 3), (23, 31, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip(tmp_path, shape, dtype):
    image = random_image(shape, dtype)
    path = tmp_path / "a.png"
    write(path, image)
    back = read(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)
    # Pillow, independently: exact for 8 bits and 16-bit grey; for 16-bit colour
    # it keeps the high byte, which still proves the RGB order.
    if dtype == np.uint8:
        mode = {2: "L", 3: "RGB", 4: "RGBA"}[len(shape) if len(shape) == 2 else shape[2]]
        np.testing.assert_array_equal(pil_array(path, mode), image)
    elif len(shape) == 2:
        np.testing.assert_array_equal(pil_array(path), image)
    else:
        mode = "RGB" if shape[2] == 3 else "RGBA"
        np.testing.assert_array_equal(pil_array(path, mode), (image >> 8).astype(np.uint8))


@pytest.mark.parametrize("shape", [(23, 31), (23, 31, 3)])
def test_bmp_round_trip(tmp_path, shape):
    image = random_image(shape, np.uint8)
    path = tmp_path / "a.bmp"
    write(path, image)
    np.testing.assert_array_equal(read(path), image)
    np.testing.assert_array_equal(pil_array(path, "L" if len(shape) == 2 else "RGB"), image)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg"])
@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip(tmp_path, ext, channels):
    image = photo(channels)
    path = tmp_path / f"a{ext}"
    write(path, image, quality=95)
    back = read(path)
    assert back.shape == image.shape and back.dtype == np.uint8
    # Pillow's libjpeg decodes the same file to the same pixels (to one level).
    pillow = pil_array(path, "L" if channels == 1 else "RGB")
    assert np.abs(back.astype(int) - pillow).max() <= 1
    error = back.astype(float) - image
    assert np.sqrt(np.mean(error**2)) < 4  # quality 95 on a photograph
    if channels == 3:  # RGB order: per-channel means follow the original's
        np.testing.assert_allclose(back.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=1.5)


def test_jpeg_quality_changes_the_file(tmp_path):
    write(tmp_path / "low.jpg", photo(), quality=20)
    write(tmp_path / "high.jpg", photo(), quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size


@pytest.mark.parametrize("channels", [3, 4])
def test_webp_round_trip(tmp_path, channels):
    image = photo(channels)
    path = tmp_path / "a.webp"
    write(path, image, quality=95)
    back = read(path)
    assert back.shape == image.shape and back.dtype == np.uint8
    pillow = pil_array(path, "RGB" if channels == 3 else "RGBA")
    assert np.abs(back.astype(int) - pillow).max() <= 2
    assert np.abs(back.astype(float) - image).mean() < 3
    np.testing.assert_allclose(back.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=2)


def test_webp_stores_grey_as_rgb(tmp_path):
    grey = photo(1)
    write(tmp_path / "g.webp", grey)
    back = read(tmp_path / "g.webp")
    assert back.shape == (*grey.shape, 3)
    spread = back.max(axis=2).astype(int) - back.min(axis=2)
    assert spread.max() <= 2  # lossy chroma stays (almost) neutral
    assert np.abs(back.astype(float) - grey[..., None]).mean() < 3
    assert probe(tmp_path / "g.webp").channels == 3


@pytest.mark.parametrize("shape", [(19, 27), (19, 27, 2), (19, 27, 3), (19, 27, 4), (19, 27, 5)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_round_trip(tmp_path, shape, dtype, compression):
    image = random_image(shape, dtype)
    path = tmp_path / "a.tif"
    write(path, image, compression=compression)
    back = read(path)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, image)
    np.testing.assert_array_equal(tifffile.imread(path), image)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.compression == (8 if compression else 1)  # Adobe Deflate / none
        assert page.photometric == (2 if shape[-1] in (3, 4) and len(shape) == 3 else 1)


def test_tiff_deflate_is_zlib(tmp_path):
    image = random_image((16, 16), np.uint16)
    write(tmp_path / "a.tiff", image, compression="deflate")
    with tifffile.TiffFile(tmp_path / "a.tiff") as tif:
        assert tif.pages[0].compression == 8
    np.testing.assert_array_equal(read(tmp_path / "a.tiff"), image)


def test_tiff_rgb_matches_pillow(tmp_path):
    image = random_image((12, 17, 3), np.uint8)
    write(tmp_path / "a.tif", image)
    np.testing.assert_array_equal(pil_array(tmp_path / "a.tif", "RGB"), image)


@pytest.mark.parametrize("shape", [(19, 27), (19, 27, 1), (19, 27, 3), (19, 27, 7)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_npy_round_trip(tmp_path, shape, dtype):
    image = random_image(shape, dtype)
    write(tmp_path / "a.npy", image)
    for back in (read(tmp_path / "a.npy"), np.load(tmp_path / "a.npy", allow_pickle=False)):
        assert back.dtype == dtype and back.shape == shape
        np.testing.assert_array_equal(back, image)


def test_single_channel_is_written_as_grey(tmp_path):
    image = random_image((9, 11, 1), np.uint8)
    for name in ("a.png", "a.tif", "a.bmp", "a.jpg"):
        write(tmp_path / name, image)
        assert read(tmp_path / name).shape == (9, 11)
    np.testing.assert_array_equal(read(tmp_path / "a.png"), image[..., 0])


def test_write_accepts_views(tmp_path):
    image = random_image((20, 30, 3), np.uint8)
    view = image[::-2, 1::3]
    for name in ("v.png", "v.tif", "v.npy", "v.bmp"):
        write(tmp_path / name, view)
        np.testing.assert_array_equal(read(tmp_path / name), view)


def test_write_does_not_modify_input(tmp_path):
    image = random_image((10, 12, 4), np.uint8)
    before = image.copy()
    write(tmp_path / "a.png", image)
    np.testing.assert_array_equal(image, before)


# --------------------------------------------------------------------------- #
# Files from other writers
# --------------------------------------------------------------------------- #


def test_rgb_order_of_a_pillow_file(tmp_path):
    red = np.zeros((4, 6, 3), np.uint8)
    red[..., 0] = 255
    for name in ("red.png", "red.bmp", "red.tif"):
        Image.fromarray(red).save(tmp_path / name)
        np.testing.assert_array_equal(read(tmp_path / name), red)
    Image.fromarray(red).save(tmp_path / "red.jpg", quality=95)
    pixel = read(tmp_path / "red.jpg")[2, 3]
    assert pixel[0] > 240 and pixel[1] < 15 and pixel[2] < 15


@pytest.mark.parametrize(
    ("mode", "expected_channels"),
    [("L", 1), ("RGB", 3), ("RGBA", 4), ("P", 3), ("1", 1), ("I;16", 1)],
)
def test_pillow_png_modes(tmp_path, mode, expected_channels):
    rgb = photo(3)
    source = Image.fromarray(rgb) if mode != "RGBA" else Image.fromarray(photo(4))
    if mode == "I;16":
        image = Image.fromarray(photo(1).astype(np.uint16) * 257)
    else:
        image = source.convert(mode)
    path = tmp_path / "a.png"
    image.save(path)
    back = read(path)
    info = probe(path)
    assert info.channels == expected_channels
    assert back.shape == (
        (rgb.shape[0], rgb.shape[1]) + ((expected_channels,) * (expected_channels > 1))
    )
    assert back.dtype.name == info.dtype
    reference_mode = {1: "L", 3: "RGB", 4: "RGBA"}[expected_channels]
    if mode == "I;16":
        np.testing.assert_array_equal(back, np.asarray(image))
        assert back.dtype == np.uint16
    else:
        np.testing.assert_array_equal(back, pil_array(path, reference_mode))


def test_grey_alpha_png_is_read_as_rgba(tmp_path):
    grey_alpha = np.dstack([photo(1), np.full(photo(1).shape, 77, np.uint8)])
    Image.fromarray(grey_alpha, "LA").save(tmp_path / "la.png")
    back = read(tmp_path / "la.png")
    assert back.shape == (*grey_alpha.shape[:2], 4)
    for c in range(3):
        np.testing.assert_array_equal(back[..., c], grey_alpha[..., 0])
    np.testing.assert_array_equal(back[..., 3], 77)
    assert probe(tmp_path / "la.png").channels == 4
    np.testing.assert_array_equal(read(tmp_path / "la.png", gray=True), grey_alpha[..., 0])


def test_png_transparency_chunks(tmp_path):
    rgb = photo(3)
    Image.fromarray(rgb).save(tmp_path / "rgb_trns.png", transparency=(1, 2, 3))
    Image.fromarray(rgb).convert("P").save(tmp_path / "p_trns.png", transparency=0)
    Image.fromarray(photo(1)).save(tmp_path / "l_trns.png", transparency=5)
    for name, channels in (("rgb_trns.png", 4), ("p_trns.png", 4), ("l_trns.png", 1)):
        back = read(tmp_path / name)
        assert probe(tmp_path / name).channels == channels
        assert back.shape[2:] == ((channels,) if channels > 1 else ())
        np.testing.assert_array_equal(
            back[..., :3] if channels > 1 else back,
            pil_array(tmp_path / name, "RGB" if channels > 1 else "L"),
        )


def test_cmyk_jpeg_is_read_as_rgb(tmp_path):
    Image.fromarray(photo(3)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    back = read(tmp_path / "cmyk.jpg")
    assert back.shape == (*photo(3).shape[:2], 3) and probe(tmp_path / "cmyk.jpg").channels == 3
    assert np.abs(back.astype(int) - pil_array(tmp_path / "cmyk.jpg", "RGB")).mean() < 2


def test_pillow_bmp_modes(tmp_path):
    rgb = photo(3)
    for mode, channels in (("L", 1), ("RGB", 3), ("P", 3), ("1", 1)):
        Image.fromarray(rgb).convert(mode).save(tmp_path / f"{mode}.bmp")
        back = read(tmp_path / f"{mode}.bmp")
        assert probe(tmp_path / f"{mode}.bmp").channels == channels
        reference = pil_array(tmp_path / f"{mode}.bmp", "L" if channels == 1 else "RGB")
        np.testing.assert_array_equal(back, reference)


def test_tiff_planar_separate(tmp_path):
    image = random_image((13, 21, 3), np.uint16)
    tifffile.imwrite(
        tmp_path / "s.tif", np.moveaxis(image, -1, 0), photometric="rgb", planarconfig="separate"
    )
    info = probe(tmp_path / "s.tif")
    assert (info.width, info.height, info.channels) == (21, 13, 3)
    np.testing.assert_array_equal(read(tmp_path / "s.tif"), image)


def test_tiff_palette_is_expanded(tmp_path):
    Image.fromarray(photo(3)).convert("P").save(tmp_path / "p.tif")
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        assert tif.pages[0].photometric == 3  # palette
    back = read(tmp_path / "p.tif")
    assert probe(tmp_path / "p.tif").channels == 3 and back.dtype == np.uint8
    np.testing.assert_array_equal(back, pil_array(tmp_path / "p.tif", "RGB"))


def test_tiff_big_endian_and_first_page(tmp_path):
    first = random_image((8, 9), np.float32, seed=1)
    second = random_image((8, 9), np.float32, seed=2)
    with tifffile.TiffWriter(tmp_path / "be.tif", byteorder=">") as tif:
        tif.write(first)
        tif.write(second)
    back = read(tmp_path / "be.tif")
    assert back.dtype == np.float32 and back.dtype.isnative
    np.testing.assert_array_equal(back, first)


def test_npy_big_endian_and_fortran_order(tmp_path):
    image = random_image((7, 9, 3), np.uint16)
    np.save(tmp_path / "be.npy", image.astype(">u2"))
    np.save(tmp_path / "f.npy", np.asfortranarray(image))
    for name in ("be.npy", "f.npy"):
        back = read(tmp_path / name)
        assert back.dtype == np.uint16 and back.dtype.isnative and back.flags.c_contiguous
        np.testing.assert_array_equal(back, image)


def test_content_decides_the_decoder(tmp_path):
    image = photo(3)
    Image.fromarray(image).save(tmp_path / "photo.jpg", quality=95)
    (tmp_path / "really_a_jpeg.png").write_bytes((tmp_path / "photo.jpg").read_bytes())
    assert probe(tmp_path / "really_a_jpeg.png").format == "jpeg"
    np.testing.assert_array_equal(
        read(tmp_path / "really_a_jpeg.png"), read(tmp_path / "photo.jpg")
    )


def test_unicode_path(tmp_path):
    folder = tmp_path / "données"
    folder.mkdir()
    path = folder / "画像 ✓.png"
    image = random_image((10, 14, 3), np.uint8)
    write(path, image)
    assert files_in(folder) == ["画像 ✓.png"]
    np.testing.assert_array_equal(read(path), image)
    np.testing.assert_array_equal(read(str(path)), image)
    np.testing.assert_array_equal(pil_array(path, "RGB"), image)
    assert probe(path).path == str(path)
    for name in ("画像 ✓.jpg", "画像 ✓.tif", "画像 ✓.npy", "画像 ✓.webp", "画像 ✓.bmp"):
        write(folder / name, image)
        assert read(folder / name).shape == image.shape


# --------------------------------------------------------------------------- #
# probe
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_probe_samples(name):
    path = SAMPLES / name
    info = probe(path)
    with Image.open(path) as image:
        assert (info.width, info.height) == image.size
        assert info.channels == {"L": 1, "RGB": 3}[image.mode]
    assert info.format == {".png": "png", ".jpg": "jpeg"}[path.suffix]
    assert info.dtype == "uint8" and info.orientation == 1 and info.path == str(path)
    assert info.pixels == info.width * info.height
    image = read(path)
    assert image.shape[:2] == (info.height, info.width)
    assert (image.shape[2] if image.ndim == 3 else 1) == info.channels


def test_probe_is_frozen():
    info = probe(SAMPLES / "camera.png")
    with pytest.raises(AttributeError):
        info.width = 3


@pytest.mark.parametrize(
    ("name", "array", "expected"),
    [
        ("a.png", np.zeros((5, 7, 4), np.uint16), ("png", 7, 5, 4, "uint16")),
        ("a.jpg", np.zeros((5, 7), np.uint8), ("jpeg", 7, 5, 1, "uint8")),
        ("a.bmp", np.zeros((5, 7, 3), np.uint8), ("bmp", 7, 5, 3, "uint8")),
        ("a.webp", np.zeros((5, 7, 4), np.uint8), ("webp", 7, 5, 4, "uint8")),
        ("a.tif", np.zeros((5, 7, 2), np.float64), ("tiff", 7, 5, 2, "float64")),
        ("a.npy", np.zeros((5, 7, 6), np.float32), ("npy", 7, 5, 6, "float32")),
    ],
)
def test_probe_formats(tmp_path, name, array, expected):
    write(tmp_path / name, array)
    info = probe(tmp_path / name)
    assert (info.format, info.width, info.height, info.channels, info.dtype) == expected
    back = read(tmp_path / name)
    assert back.dtype.name == info.dtype and back.shape[:2] == (info.height, info.width)


# --------------------------------------------------------------------------- #
# Orientation
# --------------------------------------------------------------------------- #


def oriented_source():
    """A non-square photo with flat 8x8 blocks, so JPEG keeps it almost exact."""
    blocks = photo(3, size=(6, 10))
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)  # 48 x 80


def save_with_orientation(path, rgb, orientation, **kwargs):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, exif=exif, **kwargs)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.jpg"
    save_with_orientation(path, oriented_source(), orientation, quality=95)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    back = read(path)
    assert back.shape == expected.shape
    assert np.abs(back.astype(int) - expected).max() <= 1
    info = probe(path)
    assert info.orientation == orientation
    assert (info.height, info.width) == expected.shape[:2]
    grey = read(path, gray=True)
    assert grey.shape == expected.shape[:2]
    assert np.abs(grey - expected @ BT601).max() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_exif_orientation(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.png"
    save_with_orientation(path, oriented_source(), orientation)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(read(path), expected)
    assert probe(path).orientation == orientation


def test_orientation_changes_the_array(tmp_path):
    # The check above would be vacuous if every orientation gave the same array.
    source = oriented_source()
    save_with_orientation(tmp_path / "o3.png", source, 3)
    save_with_orientation(tmp_path / "o6.png", source, 6)
    np.testing.assert_array_equal(read(tmp_path / "o3.png"), source[::-1, ::-1])
    np.testing.assert_array_equal(read(tmp_path / "o6.png"), np.rot90(source, k=-1))


def test_tiff_orientation_tag(tmp_path):
    image = random_image((6, 10), np.float32)
    tifffile.imwrite(tmp_path / "o.tif", image, extratags=[(274, "H", 1, 6, True)])
    assert probe(tmp_path / "o.tif").orientation == 6
    # Orientation 6: the stored first row is the displayed right column.
    np.testing.assert_array_equal(read(tmp_path / "o.tif"), np.rot90(image, k=-1))


def test_invalid_orientation_is_ignored(tmp_path):
    path = tmp_path / "o9.jpg"
    save_with_orientation(path, oriented_source(), 9, quality=95)
    assert probe(path).orientation == 1
    assert read(path).shape == oriented_source().shape


# --------------------------------------------------------------------------- #
# gray=True
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_gray_on_samples_is_bt601(name):
    path = SAMPLES / name
    grey = read(path, gray=True)
    assert grey.ndim == 2 and grey.dtype == np.uint8
    rgb = pil_array(path, "RGB").astype(np.float64)
    error = np.abs(grey - rgb @ BT601)
    if path.suffix == ".png":
        assert error.max() <= 0.51  # correctly rounded (ties either way)
        np.testing.assert_array_equal(grey, imgrad.gray(read(path)))
    else:
        # libjpeg's stored luma plane: measured 0.19% of pixels off by more
        # than rounding, at most 5.04 levels, where the RGB conversion clips.
        assert np.mean(error > 0.51) < 0.005
        assert error.max() < 6


def test_gray_on_16_bit_and_float(tmp_path):
    rgb16 = photo(3).astype(np.uint16) * 257
    write(tmp_path / "a.png", rgb16)
    grey = read(tmp_path / "a.png", gray=True)
    assert grey.dtype == np.uint16 and grey.ndim == 2
    assert np.abs(grey - rgb16 @ BT601).max() <= 0.51
    rgbf = random_image((9, 8, 4), np.float64)
    write(tmp_path / "a.tif", rgbf)
    np.testing.assert_allclose(read(tmp_path / "a.tif", gray=True), rgbf[..., :3] @ BT601)
    write(tmp_path / "a.npy", rgbf[..., :1].astype(np.float32))
    assert read(tmp_path / "a.npy", gray=True).shape == (9, 8)


def test_gray_refuses_many_channels(tmp_path):
    write(tmp_path / "five.tif", np.zeros((6, 6, 5), np.uint8))
    with pytest.raises(ImageReadError, match="cannot convert a 5-channel image to gray"):
        read(tmp_path / "five.tif", gray=True)


# --------------------------------------------------------------------------- #
# Bad files
# --------------------------------------------------------------------------- #


def valid_png(rgb=True) -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(photo(3 if rgb else 1)).save(buffer, "PNG")
    return buffer.getvalue()


def with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """`png` with a chunk inserted right after IHDR (CRC correct)."""
    return png[:33] + png_chunk(kind, data) + png[33:]


def harmless_pngs(folder) -> dict[str, Path]:
    """PNGs whose ancillary chunks make libpng print a warning, with correct pixels."""
    from PIL import ImageCms

    rgb = photo(3, size=(20, 30))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    files = {}
    # Pillow's convert("L") keeps the RGB profile of the colour image: libpng objects.
    colour = Image.fromarray(rgb)
    colour.info["icc_profile"] = icc
    colour.convert("L").save(folder / "grey-rgb-profile.png")
    files["grey-rgb-profile"] = folder / "grey-rgb-profile.png"
    buffer = stdio.BytesIO()
    colour.save(buffer, "png")
    png = buffer.getvalue()
    for name, kind, data in [
        ("bad-srgb", b"sRGB", b"\x07"),
        ("long-srgb", b"sRGB", b"\x00\x00"),
        ("short-iccp", b"iCCP", b"x\x00\x00" + zlib.compress(b"not a profile")),
        ("short-exif", b"eXIf", b"XX"),
        ("bad-sbit", b"sBIT", b"\x00\x00\x00"),
        ("zero-gamma", b"gAMA", bytes(4)),
        ("zero-chrm", b"cHRM", bytes(32)),
        ("empty-text", b"tEXt", b""),
        ("short-ztxt", b"zTXt", b"k\x00\x00zz"),
    ]:
        (folder / f"{name}.png").write_bytes(with_chunk(png, kind, data))
        files[name] = folder / f"{name}.png"
    for sample in sorted(SAMPLES.glob("*.png")):
        files[sample.stem] = sample
    return files


def test_harmless_png_chunks_print_nothing_and_pixels_equal_pillow(tmp_path, capfd):
    # libpng writes its warnings to file descriptor 2 itself: they would break a progress bar.
    files = harmless_pngs(tmp_path)
    for name, path in files.items():
        for gray in (False, True):
            got = read(path, gray=gray)
            with Image.open(path) as image:
                mode = "L" if image.mode in ("L", "I;16") else "RGB"
            expected = pil_array(path, mode)
            if gray and mode == "RGB":
                expected = imgrad.gray(expected)
            np.testing.assert_array_equal(got, expected, err_msg=name)
        err = capfd.readouterr().err
        assert "libpng" not in err, (name, err)


def test_chunks_that_change_pixels_are_kept(tmp_path, capfd):
    # Palette with transparency, 16-bit, grey + alpha, interlaced, 1-bit: each read as Pillow
    # reads it, with a harmless chunk added that is taken out before decoding.
    rng = np.random.default_rng(5)
    cases = {
        "palette-trns": Image.fromarray(photo(3, (17, 23))).quantize(16),
        "grey16": Image.fromarray(rng.integers(0, 65536, (9, 7)).astype(np.uint16)),
        "grey-alpha": Image.fromarray(photo(1, (12, 9))).convert("LA"),
        "bits1": Image.fromarray(photo(1, (13, 11))).convert("1"),
        "rgba-interlaced": Image.fromarray(photo(4, (19, 14))),
    }
    for name, image in cases.items():
        buffer = stdio.BytesIO()
        options = {"interlace": True} if "interlaced" in name else {}
        if name == "palette-trns":
            options["transparency"] = 3
        image.save(buffer, "png", **options)
        path = tmp_path / f"{name}.png"
        path.write_bytes(with_chunk(buffer.getvalue(), b"sRGB", b"\x09"))
        got = read(path)
        modes = {"palette-trns": "RGBA", "grey-alpha": "RGBA", "bits1": "L"}
        expected = pil_array(path, modes.get(name))
        if name == "bits1":
            expected = expected.astype(np.uint8)
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert "libpng" not in capfd.readouterr().err


def valid_jpeg() -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(photo(3, size=(200, 200))).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


JPEG = valid_jpeg()


def corrupt_idat(data: bytes) -> bytes:
    start = data.index(b"IDAT") + 4 + 50
    return data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1 :]


def npy_bytes(array, **kwargs) -> bytes:
    buffer = stdio.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


def tiff_bytes(array) -> bytes:
    buffer = stdio.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def pillow_bytes(array, fmt, **kwargs) -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def encoded(ext, array) -> bytes:
    import cv2

    return cv2.imencode(ext, array)[1].tobytes()


BAD_FILES = {
    # name: (file name, content or None for missing, expected reason)
    "missing": ("missing.png", None, "file not found"),
    "empty": ("empty.png", b"", "file is empty (0 bytes)"),
    "text as png": (
        "notes.png",
        b"hello, this is text\n",
        "not a PNG image (unrecognised header)",
    ),
    "text as jpeg": ("notes.jpg", b"hello", "not a JPEG image (unrecognised header)"),
    "text as tiff": ("notes.tif", b"hello", "not a TIFF image (unrecognised header)"),
    "text as npy": ("notes.npy", b"hello", "not a NumPy .npy file (unrecognised header)"),
    "unsupported": (
        "anim.gif",
        b"GIF89a...",
        "unsupported format '.gif' (supported: .bmp, .jpeg, .jpg, .npy, .png, .tif, .tiff, .webp)",
    ),
    "no extension": ("README", b"text", "unsupported format without extension"),
    "truncated png": ("cut.png", valid_png()[:3000], "truncated PNG data"),
    "png without IEND": ("cut.png", valid_png()[:-12], "truncated PNG data"),
    "png bad crc": (
        "crc.png",
        corrupt_idat(valid_png()),
        "corrupt PNG data (CRC mismatch in the IDAT chunk",
    ),
    "png header only": ("head.png", valid_png()[:20], "corrupt PNG header"),
    "png bad crc after harmless chunks": (
        "crc.png",
        corrupt_idat(with_chunk(with_chunk(valid_png(), b"tEXt", b"a\x00b"), b"gAMA", bytes(4))),
        "corrupt PNG data (CRC mismatch in the IDAT chunk at byte 64)",
    ),
    "truncated jpeg": (
        "cut.jpg",
        JPEG[: len(JPEG) // 2],
        "truncated JPEG (no end-of-image marker)",
    ),
    "jpeg minus eoi": ("cut.jpg", JPEG[:-2], "truncated JPEG (no end-of-image marker)"),
    "jpeg garbage": ("bad.jpg", b"\xff\xd8\xff" + bytes(range(256)) * 4, "corrupt JPEG header"),
    "truncated bmp": ("cut.bmp", encoded(".bmp", photo(3))[:3000], "truncated BMP data"),
    "truncated webp": ("cut.webp", encoded(".webp", photo(3))[:300], "truncated WebP data"),
    "cut webp header": ("cut.webp", encoded(".webp", photo(3))[:20], "truncated WebP data"),
    "truncated tiff": ("cut.tif", tiff_bytes(photo(3))[:3000], "truncated TIFF data"),
    "tiff int32": (
        "i32.tif",
        tiff_bytes(np.zeros((4, 4), np.int32)),
        "unsupported TIFF sample type int32",
    ),
    "npy object": (
        "obj.npy",
        npy_bytes(np.array([[1, "a"]], dtype=object), allow_pickle=True),
        "holds Python objects (dtype object)",
    ),
    "npy 4-D": (
        "4d.npy",
        npy_bytes(np.zeros((2, 3, 4, 5), np.uint8)),
        "unsupported .npy shape (2, 3, 4, 5)",
    ),
    "npy 1-D": ("1d.npy", npy_bytes(np.zeros(5, np.uint8)), "unsupported .npy shape (5,)"),
    "npy int32": ("i.npy", npy_bytes(np.zeros((3, 3), np.int32)), "unsupported .npy dtype int32"),
    "npy empty": ("e.npy", npy_bytes(np.zeros((0, 3), np.uint8)), "empty .npy array"),
    "truncated npy": (
        "cut.npy",
        npy_bytes(np.zeros((30, 30), np.float64))[:1000],
        "truncated .npy data",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files(tmp_path, case):
    name, content, reason = BAD_FILES[case]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        read(path)
    error = caught.value
    assert isinstance(error, OSError)
    assert error.path == str(path)
    assert reason in error.reason
    assert str(error).startswith(f"{path}: ")
    assert "\n" not in str(error)


def test_tiff_compression_needing_imagecodecs(tmp_path):
    path = tmp_path / "lzw.tif"
    Image.fromarray(photo(3)).save(path, compression="tiff_lzw")
    assert probe(path).channels == 3  # the header needs no codec
    if importlib.util.find_spec("imagecodecs") is not None:
        np.testing.assert_array_equal(read(path), photo(3))
    else:
        with pytest.raises(ImageReadError, match=r"unsupported TIFF data .*LZW.*'imagecodecs'"):
            read(path)


def test_directory(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    for function in (read, probe):
        with pytest.raises(ImageReadError, match="is a directory") as caught:
            function(folder)
        assert caught.value.path == str(folder)


@pytest.mark.parametrize(
    "case", ["missing", "empty", "text as png", "unsupported", "npy 4-D", "png header only"]
)
def test_probe_reports_header_problems(tmp_path, case):
    name, content, reason = BAD_FILES[case]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        probe(path)
    assert reason in caught.value.reason


def test_probe_needs_no_pixels(tmp_path):
    # The header is intact; probe succeeds where read finds the data cut.
    path = tmp_path / "cut.png"
    path.write_bytes(valid_png()[:3000])
    info = probe(path)
    assert (info.width, info.height, info.channels) == (64, 48, 3)


def test_bad_arguments(tmp_path):
    write(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(TypeError, match="'path' parameter of read"):
        read(3)
    with pytest.raises(TypeError, match="'gray' parameter of read"):
        read(tmp_path / "a.png", gray=1)
    with pytest.raises(ValueError, match="'max_pixels' parameter of read must be an integer >= 1"):
        read(tmp_path / "a.png", max_pixels=0)
    with pytest.raises(TypeError, match="'max_pixels' parameter of read"):
        read(tmp_path / "a.png", max_pixels=1e6)
    with pytest.raises(TypeError, match="'path' parameter of probe"):
        probe(None)


# --------------------------------------------------------------------------- #
# Pixel limit
# --------------------------------------------------------------------------- #


def test_huge_png_fixture_is_a_valid_image(huge_png):
    data = huge_png.read_bytes()
    assert len(data) < 1_000_000
    assert struct.unpack(">II", data[16:24]) == (17000, 17000)
    # Every chunk's CRC is right and the stream inflates to 17000 rows of
    # (filter byte + 17000 zeros), checked without holding it in memory.
    position, idat = 8, b""
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 4 : position + 8 + length]
        assert zlib.crc32(body) == struct.unpack_from(">I", data, position + 8 + length)[0]
        idat += body[4:] if kind == b"IDAT" else b""
        position += 12 + length
    inflater, total, nonzero = zlib.decompressobj(), 0, 0
    for start in range(0, len(idat), 4096):
        chunk = inflater.decompress(idat[start : start + 4096])
        total += len(chunk)
        nonzero += len(chunk) - chunk.count(0)
    assert total == 17000 * 17001 and nonzero == 0 and inflater.eof


def test_pixel_limit_refuses_from_the_header(huge_png):
    with pytest.raises(ImageReadError) as caught:
        read(huge_png)
    assert caught.value.reason == (
        "image of 17000 x 17000 = 289,000,000 pixels exceeds the limit of "
        "268,435,456 pixels (max_pixels)"
    )
    info = probe(huge_png)
    assert (info.width, info.height, info.channels) == (17000, 17000, 1)


PEAK_RSS_CODE = """
import resource, sys
import cv2, PIL.Image, tifffile, numpy as np, imgrad, imgrad.io

def peak_mb():
    # Linux: VmHWM, the peak of this program only (getrusage's ru_maxrss also
    # counts the memory of the forking parent, here the whole test session).
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 2**10
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10

before = peak_mb()
imgrad.probe(sys.argv[1])
try:
    imgrad.read(sys.argv[1])
except imgrad.ImageReadError:
    after = peak_mb()
control = np.ones(100 * 2**20, np.uint8)  # proof that an allocation shows
print(before, after, peak_mb())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no peak RSS measure here")
def test_pixel_limit_allocates_no_pixels(huge_png):
    # In a fresh process (every codec imported first), probe and a refused read
    # must stay far below the 289 MB the pixels would take.
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_CODE, str(huge_png)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after, control = map(float, out.stdout.split())
    assert after - before < 20, (before, after)
    assert control - after > 90, (after, control)  # the measure does see 100 MB


@pytest.mark.parametrize("name", ["s.png", "s.jpg", "s.bmp", "s.webp", "s.tif", "s.npy"])
def test_max_pixels(tmp_path, name):
    path = tmp_path / name
    write(path, np.zeros((10, 12), np.uint8))
    assert read(path, max_pixels=120).shape[:2] == (10, 12)
    with pytest.raises(ImageReadError) as caught:
        read(path, max_pixels=119)
    assert caught.value.reason == (
        "image of 12 x 10 = 120 pixels exceeds the limit of 119 pixels (max_pixels)"
    )


def test_pillow_limits_do_not_apply(tmp_path):
    # Pillow warns above ~89 Mpx and refuses above ~179 Mpx; those are not ours,
    # and its global setting is left alone (warnings are errors in this suite).
    limit_before = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "wide.png"
    write_zero_png(path, 16384, 12000)  # 196.6 Mpx
    info = probe(path)
    assert (info.width, info.height) == (16384, 12000)
    with pytest.raises(ImageReadError, match="exceeds the limit of 100 pixels"):
        read(path, max_pixels=100)
    assert Image.MAX_IMAGE_PIXELS == limit_before


# --------------------------------------------------------------------------- #
# Writing: checks and atomicity
# --------------------------------------------------------------------------- #

WRITE_ERRORS = [
    ("f.png", np.zeros((4, 4), np.float32), {}, ValueError, "scale float images"),
    ("f.jpg", np.zeros((4, 4, 3), np.float64), {}, ValueError, "imgrad.scale"),
    ("f.bmp", np.zeros((4, 4), np.float32), {}, ValueError, "'scale' step"),
    ("f.webp", np.zeros((4, 4, 3), np.float32), {}, ValueError, "write TIFF or NPY"),
    ("u.jpg", np.zeros((4, 4), np.uint16), {}, ValueError, "PNG, TIFF or NPY"),
    ("u.bmp", np.zeros((4, 4), np.uint16), {}, ValueError, "of dtype uint8 for BMP"),
    ("s.png", np.zeros((4, 4), np.int16), {}, ValueError, "signed int16 images can be written"),
    ("s.jpg", np.zeros((4, 4), np.int16), {}, ValueError, "exactly as TIFF or NPY"),
    ("u.webp", np.zeros((4, 4), np.uint16), {}, ValueError, "of dtype uint8 for WebP"),
    ("c.png", np.zeros((4, 4, 2), np.uint8), {}, ValueError, "C in {1, 3, 4} for PNG"),
    ("c.png", np.zeros((6, 6, 5), np.uint8), {}, ValueError, "C in {1, 3, 4} for PNG"),
    ("c.jpg", np.zeros((4, 4, 4), np.uint8), {}, ValueError, "C in {1, 3} for JPEG"),
    ("c.bmp", np.zeros((4, 4, 4), np.uint8), {}, ValueError, "C in {1, 3} for BMP"),
    ("c.webp", np.zeros((4, 4, 2), np.uint8), {}, ValueError, "C in {1, 3, 4} for WebP"),
    ("x.gif", np.zeros((4, 4), np.uint8), {}, ValueError, "'path' parameter of write"),
    ("x", np.zeros((4, 4), np.uint8), {}, ValueError, "ending in one of {.bmp, .jpeg"),
    ("a.png", [[0, 1]], {}, TypeError, "'array' parameter of write"),
    ("a.png", np.zeros((4, 4), bool), {}, TypeError, "'array' parameter of write"),
    ("a.npy", np.zeros((4, 4), np.int32), {}, TypeError, "dtype {uint8, uint16"),
    ("a.npy", np.zeros((2, 4, 4, 1), np.uint8), {}, ValueError, "2-D (H, W) or 3-D"),
    (
        "a.png",
        np.zeros((4, 4), np.uint8),
        {"compression": 10},
        ValueError,
        "'compression' parameter of write must be an integer from 0 to 9",
    ),
    ("a.png", np.zeros((4, 4), np.uint8), {"compression": "zlib"}, TypeError, "'compression'"),
    (
        "a.tif",
        np.zeros((4, 4), np.uint8),
        {"compression": "lzw"},
        ValueError,
        "None, 'zlib' or 'deflate' for TIFF files. Got 'lzw' instead.",
    ),
    ("a.tif", np.zeros((4, 4), np.uint8), {"compression": 6}, ValueError, "'compression'"),
    ("a.jpg", np.zeros((4, 4), np.uint8), {"compression": 6}, ValueError, "None for JPEG"),
    (
        "a.jpg",
        np.zeros((4, 4), np.uint8),
        {"quality": 101},
        ValueError,
        "'quality' parameter of write must be an integer from 0 to 100. Got 101 instead.",
    ),
    ("a.jpg", np.zeros((4, 4), np.uint8), {"quality": 9.5}, TypeError, "'quality'"),
]


@pytest.mark.parametrize(("name", "array", "kwargs", "error", "text"), WRITE_ERRORS)
def test_write_refuses(tmp_path, name, array, kwargs, error, text):
    with pytest.raises(error) as caught:
        write(tmp_path / name, array, **kwargs)
    assert text in str(caught.value)
    assert files_in(tmp_path) == []  # neither the file nor a temporary one


def test_failed_write_keeps_the_existing_file(tmp_path):
    target = tmp_path / "keep.png"
    original = random_image((8, 8, 3), np.uint8)
    write(target, original)
    with pytest.raises(ValueError):
        write(target, original.astype(np.float32))
    assert files_in(tmp_path) == ["keep.png"]
    np.testing.assert_array_equal(read(target), original)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_write_interrupted_by_the_os_leaves_the_old_file(tmp_path):
    # A real mid-write failure: the process may not write more than 100 kB per file.
    target = tmp_path / "keep.png"
    original = random_image((8, 8), np.uint8)
    write(target, original)
    code = """
import resource, signal, sys, numpy as np, imgrad
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
try:
    imgrad.write(sys.argv[1], noise)
except imgrad.ImageWriteError as error:
    print(error.reason)
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "File too large"
    assert files_in(tmp_path) == ["keep.png"]
    np.testing.assert_array_equal(read(target), original)


def test_write_replaces_an_existing_file(tmp_path):
    target = tmp_path / "a.tif"
    write(target, np.zeros((3, 3), np.uint8))
    new = random_image((5, 6), np.float32)
    write(target, new)
    np.testing.assert_array_equal(tifffile.imread(target), new)
    assert files_in(tmp_path) == ["a.tif"]


def test_write_missing_folder(tmp_path):
    target = tmp_path / "no" / "such" / "a.png"
    with pytest.raises(ImageWriteError) as caught:
        write(target, np.zeros((3, 3), np.uint8))
    assert caught.value.path == str(target)
    assert "does not exist" in caught.value.reason and str(target.parent) in caught.value.reason
    assert not (tmp_path / "no").exists()


def test_write_onto_a_directory(tmp_path):
    (tmp_path / "a.png").mkdir()
    with pytest.raises(ImageWriteError, match="is a directory"):
        write(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    assert files_in(tmp_path) == ["a.png"]


def test_written_file_has_ordinary_permissions(tmp_path):
    write(tmp_path / "a.png", np.zeros((3, 3), np.uint8))
    (tmp_path / "plain").write_bytes(b"x")
    assert (tmp_path / "a.png").stat().st_mode == (tmp_path / "plain").stat().st_mode


# --------------------------------------------------------------------------- #
# PNG compression
# --------------------------------------------------------------------------- #


def test_png_compression_levels(tmp_path):
    image = np.asarray(Image.open(SAMPLES / "astronaut.png").convert("RGB"))
    sizes = {}
    for level in (None, 0, 1, 9):
        path = tmp_path / f"{level}.png"
        write(path, image, compression=level)
        np.testing.assert_array_equal(pil_array(path, "RGB"), image)
        sizes[level] = path.stat().st_size
    assert sizes[0] > image.nbytes  # level 0 stores the rows uncompressed
    assert sizes[9] < sizes[1] < sizes[0]
    # The default (level 1, run-length, "sub" filter) trades a little size for speed.
    assert sizes[None] < 1.10 * sizes[9]
