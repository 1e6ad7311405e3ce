"""Big images on disk: lazy reading (imgrad.tiled, imgrad.dask.open_array), tiled
writing and imgrad.dask.run_tiled, checked with tifffile, Zarr and NumPy themselves."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

import imgrad.dask
from imgrad import ImageReadError, ImageWriteError, Pipeline, tiled
from imgrad.execute import run_reference
from imgrad.io import TEMP_MARKER
from imgrad.tiled import LazyImage, open_image

# --- reading ---------------------------------------------------------------------------

TIFF_LAYOUTS = {
    "tiled": {"tile": (128, 128)},
    "tiled-zlib": {"tile": (64, 96), "compression": "zlib"},
    "strips": {"rowsperstrip": 37},
    "strips-zlib": {"rowsperstrip": 50, "compression": "zlib"},
    "contiguous": {},
    "big-endian": {"byteorder": ">"},
    "bigtiff": {"bigtiff": True, "tile": (256, 256)},
}


@pytest.fixture(scope="module")
def rgb16(astronaut):
    return astronaut[:300, :230].astype(np.uint16) * 257


def regions(shape):
    rows, _cols = shape[:2]
    return [
        (slice(None), slice(None)),
        (slice(10, 250), slice(33, 201)),
        (slice(rows - 3, rows), slice(0, 1)),
        (5,),
        (slice(120, 121), 7),
    ]


@pytest.mark.parametrize("layout", sorted(TIFF_LAYOUTS))
def test_tiff_regions_equal_tifffile(layout, rgb16, camera, tmp_path):
    for name, image in (("rgb", rgb16), ("gray", camera[:290, :310].astype(np.float32))):
        path = tmp_path / f"{name}.tif"
        photometric = "rgb" if image.ndim == 3 else "minisblack"
        tifffile.imwrite(path, image, photometric=photometric, **TIFF_LAYOUTS[layout])
        lazy = open_image(path)
        reference = tifffile.imread(path)
        assert (lazy.format, lazy.shape, lazy.dtype) == ("tiff", image.shape, image.dtype)
        for key in regions(image.shape):
            region = lazy[key]
            assert region.dtype.isnative and region.flags.c_contiguous
            np.testing.assert_array_equal(region, reference[key])


def test_planar_tiff_samples_come_last(rgb16, tmp_path):
    for options in ({}, {"compression": "zlib", "rowsperstrip": 64}):
        path = tmp_path / "planar.tif"
        planes = np.moveaxis(rgb16, -1, 0)
        tifffile.imwrite(path, planes, photometric="rgb", planarconfig="separate", **options)
        lazy = open_image(path)
        assert lazy.shape == rgb16.shape
        for key in regions(rgb16.shape):
            np.testing.assert_array_equal(lazy[key], rgb16[key])


def test_zarr_and_npy_regions(rgb16, tmp_path):
    store = zarr.open_array(
        str(tmp_path / "a.zarr"),
        mode="w",
        shape=rgb16.shape,
        chunks=(64, 64, 3),
        dtype=rgb16.dtype,
    )
    store[:] = rgb16
    np.save(tmp_path / "a.npy", rgb16)
    fortran = tmp_path / "f.npy"
    np.save(fortran, np.asfortranarray(rgb16[..., 0]))
    for path, reference in (
        (tmp_path / "a.zarr", rgb16),
        (tmp_path / "a.npy", rgb16),
        (fortran, rgb16[..., 0]),
    ):
        lazy = open_image(path)
        assert lazy.shape == reference.shape and lazy.dtype == reference.dtype
        for key in regions(reference.shape):
            np.testing.assert_array_equal(lazy[key], reference[key])
    assert open_image(tmp_path / "a.zarr").chunks == (64, 64, 3)


def test_lazy_images_pickle_as_their_path(rgb16, tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, rgb16, tile=(128, 128), photometric="rgb")
    lazy = open_image(path)
    data = pickle.dumps(lazy)
    assert len(data) < 1000  # no pixels
    copy = pickle.loads(data)
    assert isinstance(copy, LazyImage) and copy.shape == lazy.shape
    np.testing.assert_array_equal(copy[40:60, 7:9], rgb16[40:60, 7:9])


def test_open_array_chunks_and_values(rgb16, tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, rgb16, tile=(64, 64), photometric="rgb", compression="zlib")
    array = imgrad.dask.open_array(path, chunks=100)
    assert array.chunks == ((100, 100, 100), (100, 100, 30), (3,))
    np.testing.assert_array_equal(array.compute(scheduler="threads"), rgb16)
    assert imgrad.dask.open_array(path, chunks=(64, 128)).chunksize == (64, 128, 3)
    with pytest.raises(ValueError, match="'chunks' parameter of open_array"):
        imgrad.dask.open_array(path, chunks=0)


def test_unreadable_files_are_refused(tmp_path, camera):
    with pytest.raises(ImageReadError, match="file not found"):
        open_image(tmp_path / "missing.tif")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(ImageReadError, match=r"unsupported format '\.png' for tiled reading"):
        open_image(tmp_path / "x.png")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ImageReadError, match="corrupt TIFF header"):
        open_image(tmp_path / "bad.tif")
    rotated = tmp_path / "rotated.tif"
    tifffile.imwrite(rotated, camera, extratags=[(274, "H", 1, 6, True)])
    with pytest.raises(ImageReadError, match=r"orientation tag \(6\)"):
        open_image(rotated)
    palette = tmp_path / "palette.tif"
    colormap = np.tile(np.arange(256, dtype=np.uint16) * 257, (3, 1))
    tifffile.imwrite(palette, camera, photometric="palette", colormap=colormap)
    with pytest.raises(ImageReadError, match="palette"):
        open_image(palette)
    for name, array in (
        ("4d", np.zeros((2, 2, 2, 2), np.uint8)),
        ("int32", np.zeros((4, 4), np.int32)),
    ):
        np.save(tmp_path / f"{name}.npy", array)
    with pytest.raises(ImageReadError, match=r"shape \(2, 2, 2, 2\)"):
        open_image(tmp_path / "4d.npy")
    with pytest.raises(ImageReadError, match="unsupported sample type int32"):
        open_image(tmp_path / "int32.npy")
    os.mkdir(tmp_path / "empty.zarr")
    with pytest.raises(ImageReadError, match="not a readable Zarr array"):
        open_image(tmp_path / "empty.zarr")


def test_missing_zarr_says_how_to_install_it(tmp_path, camera):
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, camera, tile=(128, 128))
    code = f"""
        import sys
        sys.modules["zarr"] = None
        import imgrad.tiled
        try:
            imgrad.tiled.open_image({str(path)!r})
        except ImportError as exc:
            print(exc)
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "Tiled TIFF and Zarr input and output needs the optional package 'zarr': "
        'pip install "imgrad[dask]"'
    )


# --- writing ---------------------------------------------------------------------------


def leftovers(folder):
    return [name for name in os.listdir(folder) if TEMP_MARKER in name]


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiled_tiff_round_trip(compression, rgb16, camera, tmp_path):
    cases = {
        "rgb16.tif": (rgb16, (100, 70, 3)),
        "gray32.tif": (camera.astype(np.float32) / 7, (300, 512)),
        "two.tiff": (np.dstack([camera, camera[::-1]]), (33, 500, 1)),
        "tiny.tif": (camera[:1, :3], (1, 1)),
    }
    targets = {tmp_path / n: da.from_array(a, chunks=c) for n, (a, c) in cases.items()}
    paths = imgrad.dask.write_planes(targets, compression=compression, scheduler="threads")
    assert paths == [str(p) for p in targets]
    for name, (image, _) in cases.items():
        with tifffile.TiffFile(tmp_path / name) as tif:
            page = tif.pages.first
            assert page.is_tiled and (page.tilelength, page.tilewidth) == (256, 256)
            assert page.compression == (8 if compression else 1)  # Adobe Deflate or none
            assert page.photometric == (2 if image.ndim == 3 and image.shape[2] == 3 else 1)
            np.testing.assert_array_equal(page.asarray(), image)
    assert not leftovers(tmp_path)


def test_zarr_round_trip(rgb16, tmp_path):
    array = da.from_array(rgb16, chunks=(128, 64, 1))
    path = imgrad.dask.write_tiled(tmp_path / "out.zarr", array, scheduler="threads")
    stored = zarr.open_array(path, mode="r")
    assert stored.chunks == (128, 64, 3)
    np.testing.assert_array_equal(stored[:], rgb16)
    # Irregular chunks are regularised so each Zarr chunk is written whole, once.
    irregular = da.from_array(rgb16, chunks=((100, 50, 150), (230,), (3,)))
    imgrad.dask.write_tiled(tmp_path / "out.zarr", irregular)
    np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], rgb16)
    assert not leftovers(tmp_path)


def failing(block, block_info=None):
    if block_info[0]["chunk-location"][0] == 2:
        raise RuntimeError("disk on fire")
    return block


@pytest.mark.parametrize("name", ["out.tif", "out.zarr"])
def test_a_failed_write_leaves_the_old_output_and_no_temporary(name, camera, tmp_path):
    target = tmp_path / name
    good = da.from_array(camera, chunks=128)
    imgrad.dask.write_tiled(target, good)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    bad = (good + 1).map_blocks(failing, dtype=good.dtype)
    with pytest.raises(RuntimeError, match="disk on fire"):
        imgrad.dask.write_tiled(target, bad, scheduler="threads")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    reread = tifffile.imread(target) if name.endswith(".tif") else zarr.open_array(target)[:]
    np.testing.assert_array_equal(reread, camera)


def test_a_failing_tiff_writer_stops_the_run(camera, tmp_path):
    """tifffile fails in one writer thread (LZW needs imagecodecs, not installed here)."""
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs can write LZW")
    bands = ((camera[top : top + 64],) * 2 for top in range(0, 512, 64))
    paths = [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]
    threads = threading.active_count()
    with pytest.raises(KeyError, match="requires the 'imagecodecs' package"):
        tiled.write_tiffs(
            paths, bands, shapes=[camera.shape] * 2, dtypes=[camera.dtype] * 2, compression="lzw"
        )
    assert threading.active_count() == threads  # every writer thread has ended


def test_writing_refuses_bad_targets(camera, tmp_path):
    array = da.from_array(camera, chunks=256)
    with pytest.raises(ValueError, match=r"a \.tif, \.tiff or \.zarr path"):
        imgrad.dask.write_tiled(tmp_path / "out.png", array)
    with pytest.raises(ValueError, match="None for Zarr outputs"):
        imgrad.dask.write_tiled(tmp_path / "out.zarr", array, compression="zlib")
    with pytest.raises(ValueError, match="'compression' parameter of write_planes"):
        imgrad.dask.write_tiled(tmp_path / "out.tif", array, compression="lzw")
    with pytest.raises(ImageWriteError, match=r"folder .* does not exist"):
        imgrad.dask.write_tiled(tmp_path / "nowhere" / "out.tif", array)
    (tmp_path / "photos.zarr").mkdir()
    (tmp_path / "photos.zarr" / "keep.txt").write_text("mine")
    with pytest.raises(ImageWriteError, match="holds no Zarr store; not replaced"):
        imgrad.dask.write_tiled(tmp_path / "photos.zarr", array)
    assert (tmp_path / "photos.zarr" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="'array' parameter"):
        imgrad.dask.write_tiled(tmp_path / "out.tif", da.zeros((4, 4), dtype=np.int64))


# --- one big file ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_run_tiled_writes_every_plane(fmt, astronaut, tmp_path):
    source = tmp_path / "photo.tif"
    tifffile.imwrite(source, astronaut, tile=(128, 128), photometric="rgb")
    pipe = "gray | gaussian sigma=2 | sobel | polar degrees=true -> magnitude,phase,image"
    paths = imgrad.dask.run_tiled(source, tmp_path / "out", pipe, tile=192, format=fmt)
    assert [os.path.basename(p) for p in paths] == [
        f"photo.{plane}.{fmt}" for plane in ("magnitude", "phase", "image")
    ]
    reference = run_reference(Pipeline.parse(pipe), astronaut)
    for plane, path in zip(("magnitude", "phase", "image"), paths, strict=True):
        stored = tifffile.imread(path) if fmt == "tif" else zarr.open_array(path, mode="r")[:]
        assert stored.dtype == reference[plane].dtype
        np.testing.assert_array_equal(stored, reference[plane])


def test_run_tiled_checks_its_arguments(tmp_path, camera):
    source = tmp_path / "c.tif"
    tifffile.imwrite(source, camera)
    with pytest.raises(ValueError, match=r"'format' parameter of run_tiled must be one of"):
        imgrad.dask.run_tiled(source, tmp_path, "sobel", format="png")
    with pytest.raises(ValueError, match="'tile' parameter of run_tiled"):
        imgrad.dask.run_tiled(source, tmp_path, "sobel", tile=0)
    with pytest.raises(ImageReadError, match="file not found"):
        imgrad.dask.run_tiled(tmp_path / "none.tif", tmp_path, "sobel")


MEMORY_SCRIPT = """
import json, sys

def peak():
    # VmHWM: this process's peak resident memory. (getrusage's ru_maxrss would
    # also count the parent's memory at the fork that started this process.)
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

import tifffile, zarr, imgrad.dask, imgrad.derivatives, imgrad.filters, imgrad.magphase
before = peak()  # the libraries loaded, nothing computed
paths = imgrad.dask.run_tiled(sys.argv[1], sys.argv[2], sys.argv[3], tile=512,
                              scheduler="threads")
print(json.dumps({"paths": paths, "before": before, "peak": peak()}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status")
def test_memory_stays_far_below_the_whole_image_planes(tmp_path):
    height, width = 8000, 6000
    rng = np.random.default_rng(0)
    image = np.repeat(rng.integers(0, 256, (height, width // 8), dtype=np.uint8), 8, axis=1)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image, tile=(256, 256))
    text = "gaussian sigma=1 | sobel | polar -> magnitude"
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(source), str(tmp_path / "out"), text],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Whole-image float32 planes: the smoothed image, gx, gy, magnitude and phase.
    planes = 5 * height * width * 4  # 915 MiB
    assert report["peak"] < planes / 3, report  # measured: 203 MiB, libraries included
    assert report["peak"] - report["before"] < planes / 5, report  # measured: 108 MiB
    reference = run_reference(Pipeline.parse(text), image)["magnitude"]
    np.testing.assert_array_equal(tifffile.imread(report["paths"][0]), reference)
