"""imgrad.dask: pipelines over dask arrays, chunk by chunk, equal to the whole image bit for bit.

The reference is the reference executor run on the whole NumPy image;
dask.distributed runs on real LocalClusters (processes and threads).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import warnings
from typing import ClassVar

import cv2
import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgrad
import imgrad.dask
from imgrad import Pipeline, PipelineError, ops
from imgrad.execute import run_reference

from .strategies import PREREQUISITE, pipelines

DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]
BORDERS = ["reflect101", "reflect", "replicate", "constant", "wrap"]


def tiled(pipe, image, chunks, scheduler="threads"):
    """The pipeline through imgrad.dask on a dask array of `image` with `chunks`."""
    array = da.from_array(image, chunks=chunks)
    planes = imgrad.dask.apply(pipe, array, scheduler=scheduler)
    (computed,) = dask.compute(planes, scheduler=scheduler)
    return planes, computed


def assert_same_planes(pipe, image, chunks, scheduler="threads"):
    reference = run_reference(pipe, image)
    planes, computed = tiled(pipe, image, chunks, scheduler)
    assert list(planes) == list(reference)
    for name, plane in reference.items():
        # Known before computing, and equal bit for bit after.
        assert planes[name].shape == plane.shape, name
        assert planes[name].dtype == plane.dtype, name
        np.testing.assert_array_equal(computed[name], plane, err_msg=f"{pipe} plane {name}")


def split(length: int, cuts: list[int]) -> tuple[int, ...]:
    """Chunks of an axis cut at the given positions (irregular, not dividing it)."""
    edges = sorted({0, length, *(c % length for c in cuts)})
    return tuple(b - a for a, b in itertools.pairwise(edges))


# --- tiled == whole, for every step, border mode and chunking ----------------------


@st.composite
def images(draw, camera, astronaut):
    dtype = draw(st.sampled_from(DTYPES))
    sizes = st.integers(1, 8) | st.integers(64, 300)  # tiny, or several chunks wide
    height, width = draw(sizes), draw(sizes)
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    if channels in (None, 3) and draw(st.booleans()):  # a crop of a real photograph
        photo = camera if channels is None else astronaut
        top, left = draw(st.integers(0, 250)), draw(st.integers(0, 250))
        image = photo[top : top + height, left : left + width]
        if dtype == np.int16:  # the whole signed range
            return (image.astype(np.int32) * 257 - 32768).astype(np.int16)
        scale = {np.uint8: 1, np.uint16: 257, np.float32: 1 / 255, np.float64: 1 / 255}[dtype]
        return np.ascontiguousarray(image.astype(dtype) * dtype(scale))
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype in (np.uint8, np.uint16, np.int16):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 50).astype(dtype)


@pytest.fixture(scope="module")
def image_strategy(camera, astronaut):
    return images(camera, astronaut)


def test_tiled_equals_whole_for_random_pipelines_images_and_chunkings(image_strategy):
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(pipelines(extra_outputs=True), image_strategy, st.data())
    def check(pipe, image, data):
        cuts = st.lists(st.integers(1, 10**6), max_size=5)
        chunks = (split(image.shape[0], data.draw(cuts)), split(image.shape[1], data.draw(cuts)))
        channel_cuts = data.draw(st.lists(st.integers(1, 3), max_size=2))
        chunks += (split(image.shape[2], channel_cuts),) if image.ndim == 3 else ()
        assert_same_planes(pipe, image, chunks)

    check()


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize(
    "text",
    [
        "sobel border={b} | polar",
        "gray | gaussian sigma=1.5 border={b} | sobel ksize=5 border={b} | polar degrees=true",
        "scharr border={b} cval=7 | magnitude | scale",
        "farid border={b} normalize=true | polar precise=true wrap=signed | scale dtype=uint16",
        "gray | morph footprint=ellipse size=7 iterations=2 border={b} | scale",
        "gaussian sigma=3 border={b} | roberts border=reflect | polar convention=math wrap=half",
        "central border={b} channels=max | polar | colorize percentile=95",
        "intermediate border={b} | prewitt input=image name=p border=wrap | magnitude input=p "
        "-> gx,p_magnitude,p_gx",
    ],
)
def test_tiled_equals_whole_on_real_photos(text, border, astronaut, camera):
    pipe = Pipeline.parse(text.format(b=border))
    for image in (astronaut[:300, :280], (camera[40:330, 17:290] / 255).astype(np.float32)):
        chunks = (100, 77) if image.ndim == 2 else (100, 77, 1)
        assert_same_planes(pipe, image, chunks)


@pytest.mark.parametrize("name", sorted(ops.STEPS))
def test_every_step_with_every_border(name, astronaut):
    params = {p.name for p in ops.STEPS[name].params}
    borders = (
        [*BORDERS, "ignore"] if name == "morph" else BORDERS if "border" in params else [None]
    )
    for border in borders:
        values = {"border": border, "cval": 3.0} if border else {}
        steps = [ops.make_step(before) for before in PREREQUISITE.get(name, [])]
        pipe = Pipeline([*steps, ops.make_step(name, **values)])
        pipe = pipe.with_outputs(list(dict.fromkeys([*pipe.outputs, *pipe.planes[1:]])))
        assert_same_planes(pipe, astronaut[:260, :300], (70, 90, 3))


@pytest.mark.parametrize("name", ["coins.png", "chelsea.png", "coffee.png", "rocket.jpg"])
def test_every_sample_photo(name, samples_dir):
    image = cv2.cvtColor(cv2.imread(str(samples_dir / name)), cv2.COLOR_BGR2RGB)
    pipe = Pipeline.parse("gray | gaussian sigma=1 | sobel | polar | scale -> magnitude,phase,gx")
    assert_same_planes(pipe, image, (128, 200, 3))


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((1, 1), (1, 1)), ((1, 300), (1, 7)), ((300, 1), (13, 1)), ((2, 3), (1, 2)),
     ((5, 400, 3), (2, 50, 1)), ((400, 5), (64, 1))],
)  # fmt: skip
@pytest.mark.parametrize("border", BORDERS)
def test_tiny_and_one_pixel_wide_images(shape, chunks, border):
    image = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    pipe = Pipeline.parse(f"gaussian sigma=2 border={border} | sobel ksize=7 border={border}")
    assert_same_planes(pipe.with_outputs("gx,gy,image"), image, chunks)
    morph = Pipeline.parse(f"morph size=5 iterations=3 border={border} | scale")
    assert_same_planes(morph, image, chunks)


def test_chunks_smaller_than_the_halo(camera):
    pipe = Pipeline.parse("gaussian sigma=10 | sobel ksize=7 | polar")
    assert pipe.halo == 43
    assert_same_planes(pipe, camera[:300, :260], (7, 5))


def test_same_chunking_same_bytes_and_every_chunking_the_same(astronaut):
    pipe = Pipeline.parse("gaussian sigma=1.3 | sobel | polar")
    image = astronaut.astype(np.float32)
    results = [
        tiled(pipe, image, chunks)[1] for chunks in ((64, 64, 3), (64, 64, 3), (190, 77, 1))
    ]
    for name in pipe.outputs:
        first = results[0][name].tobytes()
        assert all(r[name].tobytes() == first for r in results[1:])


def test_synchronous_and_threaded_schedulers_agree(camera):
    pipe = Pipeline.parse("sobel | magnitude | scale")
    assert_same_planes(pipe, camera, (200, 150), scheduler="synchronous")
    assert_same_planes(pipe, camera, (200, 150), scheduler="threads")


# --- whole-image statistics --------------------------------------------------------


def test_minmax_uses_the_whole_image_range(camera):
    """Each chunk alone has another range: only the whole image's gives the reference."""
    image = camera.astype(np.float32)
    image[:64] *= 3  # the top rows hold the maximum
    pipe = Pipeline.parse("sobel | polar | scale")
    assert_same_planes(pipe, image, (128, 128))
    whole = run_reference(pipe, image)["magnitude"]
    assert whole[200:].max() < 200  # the other chunks would reach 255 on their own


def test_minmax_with_nan_inf_and_constant_planes():
    rng = np.random.default_rng(2)
    image = (rng.standard_normal((300, 260)) * 100).astype(np.float32)
    image[rng.random(image.shape) < 0.01] = np.nan
    image[rng.random(image.shape) < 0.01] = np.inf
    image[rng.random(image.shape) < 0.01] = -np.inf
    for pipe in ("scale", "scale dtype=uint16", "scale method=clip"):
        with warnings.catch_warnings():
            # imgrad.scale's own warning on infinities, in both runs alike
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
            assert_same_planes(Pipeline.parse(pipe), image, (100, 70), "synchronous")
    for constant in (np.full((200, 300), 7.5), np.full((200, 300), np.nan)):
        assert_same_planes(Pipeline.parse("scale"), constant, (64, 64))


def test_colorize_percentile_over_the_whole_image(astronaut):
    for text in (
        "sobel | polar | colorize",
        "sobel | polar degrees=true | colorize degrees=true percentile=50",
        "gaussian sigma=2 | sobel | polar | colorize percentile=100",
        "sobel | polar | colorize percentile=0.01",
    ):
        pipe = Pipeline.parse(text)
        for image in (
            astronaut,
            astronaut.astype(np.float64) / 255,
            np.zeros((100, 300), np.uint8),
        ):
            chunks = (128, 96, *image.shape[2:])
            assert_same_planes(pipe, image, chunks)


# --- laziness and sharing ----------------------------------------------------------


class Tally(ops.Step):
    """A pass-through step that records the shape of every block it runs on."""

    name = "tally"
    summary = "copies its input plane and records the call"
    params = (ops.INPUT, ops.NAME)
    calls: ClassVar[list[tuple[int, ...]]] = []

    @staticmethod
    def function(image, *, out=None):
        Tally.calls.append(image.shape)
        return image.copy()

    def writes(self, previous):
        return (self.values["name"] or ops.IMAGE,)


def test_planes_share_one_computation(camera):
    pipe = Pipeline([Tally(), ops.Sobel(), ops.Polar()], outputs="magnitude,phase,gx,gy")
    planes = imgrad.dask.apply(pipe, da.from_array(camera, chunks=128))
    Tally.calls.clear()
    dask.compute(*planes.values(), scheduler="threads")
    assert planes["magnitude"].numblocks == (4, 4)
    assert len(Tally.calls) == 16  # once per chunk, not once per plane
    Tally.calls.clear()
    planes["gx"].compute(scheduler="threads")
    assert len(Tally.calls) == 16
    Tally.calls.clear()
    planes["gx"][:128, :128].compute(scheduler="threads")
    assert len(Tally.calls) == 1  # a region computes only the chunks it covers


def test_nothing_is_computed_until_asked(camera):
    pipe = Pipeline([Tally(), ops.Gaussian(), ops.Sobel(), ops.Polar()])
    Tally.calls.clear()
    planes = imgrad.dask.apply(pipe, da.from_array(camera, chunks=128))
    assert Tally.calls and all(shape == (4, 4) for shape in Tally.calls)  # the dtype probe only
    assert planes["phase"].dtype == np.float32 and planes["phase"].shape == (512, 512)


def test_numpy_arrays_and_split_channels_are_accepted(astronaut):
    pipe = Pipeline.parse("sobel | magnitude")
    planes = imgrad.dask.apply(pipe, astronaut)
    np.testing.assert_array_equal(
        planes["magnitude"].compute(), run_reference(pipe, astronaut)["magnitude"]
    )
    assert_same_planes(pipe, astronaut, (200, 200, 1))


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (da.zeros((4, 4, 3, 2), dtype=np.uint8), ValueError),
        (da.zeros((4, 4), dtype=np.int32), ValueError),
        (da.zeros((0, 4), dtype=np.uint8), ValueError),
        ([[1, 2], [3, 4]], TypeError),
    ],
)
def test_bad_arrays_are_refused(array, error):
    with pytest.raises(error, match=r"The 'array' parameter of imgrad\.dask\.apply must be"):
        imgrad.dask.apply("sobel", array)


def test_bad_pipelines_are_refused():
    with pytest.raises(PipelineError, match="Unknown step 'sobol'"):
        imgrad.dask.apply("sobol", da.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(TypeError, match="'pipeline' parameter"):
        imgrad.dask.apply(42, da.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(
        ValueError, match=r"1 \(gray\), 2 \(gray\+alpha\), 3 \(RGB\) or 4 \(RGBA\)"
    ):
        imgrad.dask.apply("gray", da.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(TypeError, match="'scheduler' parameter"):
        imgrad.dask.apply("sobel", da.zeros((8, 8), dtype=np.uint8), scheduler=3.5)


# --- optional dependency -----------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_import_imgrad_does_not_import_dask():
    result = run_python(
        """
        import sys
        import numpy as np
        import imgrad, imgrad.tiled
        imgrad.Pipeline.parse("sobel | polar")(np.zeros((8, 8), np.uint8))
        print(sorted({m.split(".")[0] for m in sys.modules} & {"dask", "distributed"}))
        print("imgrad.dask" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"]


def test_missing_dask_says_how_to_install_it():
    result = run_python(
        """
        import sys
        sys.modules["dask"] = None  # as if it were not installed
        try:
            import imgrad.dask
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "imgrad.dask needs the optional package 'dask': pip install \"imgrad[dask]\""
    )


def test_missing_distributed_says_how_to_install_it():
    result = run_python(
        """
        import sys
        sys.modules["distributed"] = None
        import imgrad.dask
        try:
            with imgrad.dask.client(processes=False):
                pass
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "imgrad[dask]"' in result.stdout
    assert "'distributed'" in result.stdout


# --- dask.distributed --------------------------------------------------------------


@pytest.fixture
def photo_tiff(tmp_path, astronaut):
    path = tmp_path / "astronaut.tif"
    tifffile.imwrite(path, astronaut, tile=(128, 128), photometric="rgb", compression="zlib")
    return path


def _square(value):
    return value * value


def test_local_cluster_of_processes(photo_tiff, tmp_path, astronaut):
    pipe = Pipeline.parse("gray | gaussian sigma=1.5 | sobel | polar | scale -> magnitude,phase")
    with imgrad.dask.client(workers=2, threads_per_worker=1, processes=True) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        paths = imgrad.dask.run_tiled(
            photo_tiff, tmp_path / "out", pipe, tile=128, scheduler=client
        )
        done = dict(imgrad.dask.submit_bounded(client, _square, range(7), limit=3))
        squares = {item: future.result() for item, future in done.items()}
    reference = run_reference(pipe, astronaut)
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "astronaut.magnitude.tif",
        "astronaut.phase.tif",
    ]
    for name, path in zip(pipe.outputs, paths, strict=True):
        np.testing.assert_array_equal(tifffile.imread(path), reference[name])
    assert squares == {i: i * i for i in range(7)}


def test_local_cluster_of_threads(photo_tiff, tmp_path, astronaut):
    pipe = Pipeline.parse("sobel border=wrap | polar | colorize")
    reference = run_reference(pipe, astronaut)
    with imgrad.dask.client(workers=2, processes=False) as client:
        planes = imgrad.dask.apply(
            pipe, da.from_array(astronaut, chunks=(128, 128, 3)), scheduler=client
        )
        (color,) = dask.compute(planes["color"], scheduler=client)
        # A scheduler address: run_tiled connects its own client and closes it.
        address = client.scheduler.address
        paths = imgrad.dask.run_tiled(
            photo_tiff, tmp_path, pipe, tile=256, format="zarr", scheduler=address
        )
        pulled = []

        def items():
            for i in range(6):
                pulled.append(i)
                yield i

        first = None
        for item, future in imgrad.dask.submit_bounded(client, _square, items(), limit=2):
            if first is None:
                first = len(pulled)
            assert future.result() == item * item
    np.testing.assert_array_equal(color, reference["color"])
    import zarr

    np.testing.assert_array_equal(zarr.open_array(paths[0], mode="r")[:], reference["color"])
    assert first <= 3  # jobs were submitted two at a time, not all at once
    assert pulled == list(range(6))
