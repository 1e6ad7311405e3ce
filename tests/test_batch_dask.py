"""The batch runner on a real Dask cluster, ``imgrad run --tile`` and ``imgrad preview``.

Dataset runs on a LocalCluster of two worker processes (one thread each)
are compared file by file with the local engine's; a worker is killed while
it holds images; the CLI paths run in-process and through the executable.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

import imgrad.dask
from imgrad import Pipeline, batch, cli, visualize
from imgrad.io import TEMP_MARKER
from imgrad.manifest import MANIFEST_NAME

IMGRAD = Path(sys.executable).parent / "imgrad"
PIPELINE = (
    "gray | gaussian sigma=1.5 | sobel | polar | morph kind=internal -> magnitude,phase,morph"
)


@pytest.fixture(scope="module")
def client():
    with imgrad.dask.client(workers=2, threads_per_worker=1, processes=True) as connected:
        yield connected


@pytest.fixture
def dataset(tmp_path, samples_dir):
    """The sample photos in two folders (one nested), and a file that is not an image."""
    root = tmp_path / "data"
    for folder in (root / "a", root / "b" / "c"):
        folder.mkdir(parents=True)
        for sample in sorted(samples_dir.iterdir()):
            shutil.copy(sample, folder)
    (root / "a" / "broken.png").write_bytes(b"not a png at all")
    return root


def _files(out: Path) -> list[str]:
    """Files under `out`, relative, except temporary files a killed writer may leave."""
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and TEMP_MARKER not in p.name
    )


def _manifest(out: Path) -> dict[str, tuple]:
    """The last manifest line of each input: status, outputs, error, shape, dtype."""
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    return {
        e["input"]: (e["status"], e.get("outputs"), e.get("error"), e.get("shape"), e.get("dtype"))
        for e in lines
    }


def _assert_same_outputs(reference: Path, out: Path) -> None:
    names = _files(reference)
    assert _files(out) == names
    images = [n for n in names if not n.startswith("imgrad-")]
    assert len(images) > 10
    _, mismatch, errors = filecmp.cmpfiles(reference, out, images, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert _manifest(out) == _manifest(reference)


def _counts(report: batch.Report) -> tuple[int, int, int]:
    return report.ok, report.skipped, report.failed


def test_a_local_cluster_writes_the_same_files_and_manifest_as_the_local_engine(
    dataset, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # relative paths, as typed on a command line
    local = batch.run(["data"], "local", PIPELINE, format="tif", workers=2)
    # No client: a LocalCluster of two worker processes is started and closed.
    on_dask = batch.run(["data"], "dask", PIPELINE, format="tif", workers=2, engine="dask")
    assert _counts(on_dask) == _counts(local) == (12, 0, 1)
    assert on_dask.failures == local.failures
    assert on_dask.failures[0][0] == os.path.join("data", "a", "broken.png")
    _assert_same_outputs(tmp_path / "local", tmp_path / "dask")
    magnitude = tifffile.imread(tmp_path / "dask" / "b" / "c" / "camera.magnitude.tif")
    assert magnitude.dtype == np.float32 and magnitude.shape == (512, 512)


def test_workers_run_images_with_opencv_threads_off(dataset, tmp_path, client):
    """Each worker thread is one image at a time; OpenCV's own threads would
    oversubscribe the cores."""
    client.run(cv2.setNumThreads, 4)
    assert set(client.run(cv2.getNumThreads).values()) == {4}
    batch.run(dataset, tmp_path / "out", "gray | sobel | magnitude", engine="dask", client=client)
    assert set(client.run(cv2.getNumThreads).values()) == {1}


def test_resume_and_failures_count_as_in_the_local_engine(dataset, tmp_path, client):
    client.wait_for_workers(2)
    runs = {}
    for engine, options in (("local", {}), ("dask", {"client": client})):
        out = tmp_path / engine
        first = batch.run([dataset], out, "sobel | magnitude", engine=engine, **options)
        again = batch.run([dataset], out, "sobel | magnitude", engine=engine, **options)
        (out / "b" / "c" / "coins.magnitude.png").unlink()
        redo = batch.run([dataset], out, "sobel | magnitude", engine=engine, **options)
        runs[engine] = [_counts(first), _counts(again), _counts(redo)]
        assert "not a PNG image" in redo.failures[0][1]
    assert runs["dask"] == runs["local"] == [(12, 0, 1), (0, 12, 1), (1, 11, 1)]
    _assert_same_outputs(tmp_path / "local", tmp_path / "dask")


class _KillOnFirstResult:
    """Progress hooks that SIGKILL a worker holding images once the first image is done."""

    def __init__(self, client) -> None:
        self.client = client
        self.killed: tuple[int, list[str]] | None = None

    def start(self, total):
        pass

    def advance(self, entry):
        if self.killed is not None or entry.status != "ok":
            return
        pids = self.client.run(os.getpid)
        for address, keys in self.client.processing().items():
            if keys:
                os.kill(pids[address], signal.SIGKILL)
                self.killed = (pids[address], list(keys))
                return

    def close(self):
        pass


def test_a_worker_killed_mid_run_costs_only_a_retry(dataset, tmp_path, client):
    client.wait_for_workers(2)
    before = set(client.run(os.getpid).values())
    reference = batch.run([dataset], tmp_path / "local", PIPELINE, format="tif")
    killer = _KillOnFirstResult(client)
    report = batch.run(
        [dataset],
        tmp_path / "dask",
        PIPELINE,
        format="tif",
        engine="dask",
        client=client,
        progress=killer,
    )
    assert killer.killed is not None, "no worker held an image to kill"
    pid, keys = killer.killed
    assert pid in before and keys
    assert _counts(report) == _counts(reference) == (12, 0, 1)
    _assert_same_outputs(tmp_path / "local", tmp_path / "dask")
    client.wait_for_workers(2)  # the nanny restarts the killed worker
    assert pid not in set(client.run(os.getpid).values())


def test_cli_scheduler_address_runs_on_that_cluster(dataset, tmp_path, client, capsys):
    address = client.scheduler.address
    args = ["run", str(dataset), "-p", "sobel | magnitude", "-q"]
    assert cli.main([*args, "-o", str(tmp_path / "local")]) == 1
    assert cli.main([*args, "-o", str(tmp_path / "dask"), "--scheduler", address]) == 1
    assert capsys.readouterr().err.count("broken.png") == 2
    _assert_same_outputs(tmp_path / "local", tmp_path / "dask")


def test_cli_engine_dask_through_the_executable(samples_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("camera.png", "coins.png", "astronaut.png"):
        shutil.copy(samples_dir / name, data)
    result = subprocess.run(
        [IMGRAD, "run", "data", "-o", "out", "-p", "gray | sobel | magnitude", "--engine",
         "dask", "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 ok" in result.stderr
    reference = batch.run([data], tmp_path / "local", "gray | sobel | magnitude")
    assert reference.ok == 3
    _assert_images_equal(tmp_path / "local", tmp_path / "out", 3)


def _assert_images_equal(reference: Path, out: Path, count: int) -> None:
    images = [n for n in _files(reference) if not n.startswith("imgrad-")]
    assert len(images) == count
    _, mismatch, errors = filecmp.cmpfiles(reference, out, images, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_engine_dask_without_dask_installed_is_a_usage_error(tmp_path, samples_dir):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["dask"] = None
        from imgrad.cli import main
        for extra in (["--engine", "dask"], ["--tile", "256"]):
            code = main(["run", {str(samples_dir / "camera.png")!r}, "-o",
                         {str(tmp_path / "out")!r}, "-p", "sobel", *extra])
            print(code)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "2"], result.stderr
    assert result.stderr.count('pip install "imgrad[dask]"') == 2, result.stderr
    assert not (tmp_path / "out").exists()


def test_dask_engine_options_are_checked(tmp_path, samples_dir):
    with pytest.raises(ValueError, match=r"'engine' parameter .* must be 'dask'"):
        batch.run([samples_dir / "camera.png"], tmp_path, "sobel", scheduler="tcp://x:8786")
    with pytest.raises(ValueError, match=r"'engine' parameter .* one of"):
        batch.run([samples_dir / "camera.png"], tmp_path, "sobel", engine="cluster")
    assert not list(tmp_path.iterdir())


# --- imgrad run --tile -------------------------------------------------------------------


@pytest.fixture
def big_tiff(tmp_path, camera):
    """A 700 x 900 tiled TIFF of the camera photo, not a multiple of the chunk size."""
    image = np.ascontiguousarray(np.tile(camera, (2, 2))[:700, :900])
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image, tile=(128, 128))
    return path, image


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_tile_equals_the_in_memory_pipeline(big_tiff, tmp_path, fmt, capsys):
    path, image = big_tiff
    text = "gaussian sigma=1.5 | sobel ksize=5 | polar degrees=true"
    out = tmp_path / "out"
    code = cli.main(
        ["run", str(path), "-o", str(out), "-p", text, "--tile", "256", "--format", fmt]
    )
    assert code == 0, capsys.readouterr().err
    whole = Pipeline.parse(text)(image)
    assert sorted(os.listdir(out)) == [f"big.magnitude.{fmt}", f"big.phase.{fmt}"]
    for name in ("magnitude", "phase"):
        if fmt == "tif":
            plane = tifffile.imread(out / f"big.{name}.tif")
        else:
            import zarr

            plane = zarr.open_array(out / f"big.{name}.zarr", mode="r")[:]
        np.testing.assert_array_equal(plane, whole[name])
    # Independent check of the derivative the planes come from.
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=5)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=5)
    np.testing.assert_allclose(whole["magnitude"], np.hypot(gx, gy), rtol=1e-4, atol=1e-2)


def test_tile_reports_each_bad_input_and_refuses_other_formats(big_tiff, tmp_path, capsys):
    path, _ = big_tiff
    out = tmp_path / "out"
    argv = ["run", str(path), str(tmp_path / "missing.tif"), "-o", str(out), "-p", "sobel"]
    assert cli.main([*argv, "--tile", "256", "-q"]) == 1
    err = capsys.readouterr().err
    assert "missing.tif" in err and "big.tif" not in err
    assert sorted(os.listdir(out)) == ["big.gx.tif", "big.gy.tif"]
    assert cli.main([*argv, "--tile", "256", "--format", "png"]) == 2
    assert "--tile writes --format tif or zarr" in capsys.readouterr().err
    assert cli.main([*argv, "--format", "zarr"]) == 2
    assert "--format zarr needs --tile" in capsys.readouterr().err


# --- imgrad preview ----------------------------------------------------------------------


def test_preview_through_the_executable(samples_dir, tmp_path, camera):
    result = subprocess.run(
        [IMGRAD, "preview", samples_dir / "camera.png", "-o", "preview.png", "-p",
         "sobel | polar", "--max-side", "256"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    montage = cv2.cvtColor(cv2.imread(str(tmp_path / "preview.png")), cv2.COLOR_BGR2RGB)
    # Panels: the photo, gx, gy, magnitude and direction, each 256 x 256 under a title band.
    top, left = visualize.MARGIN + visualize.TITLE_HEIGHT, visualize.MARGIN
    panel = montage[top : top + 256, left : left + 256]
    small = cv2.resize(camera, (256, 256), interpolation=cv2.INTER_AREA)
    assert np.abs(panel.astype(int) - small[..., None]).max() <= 1
    assert (panel == panel[..., :1]).all()  # the grey photo shown in grey
    width = montage.shape[1]
    assert (width - 2 * visualize.MARGIN + visualize.GAP) % (256 + visualize.GAP) == 0
    columns = (width - 2 * visualize.MARGIN + visualize.GAP) // (256 + visualize.GAP)
    rows = (montage.shape[0] - 2 * visualize.MARGIN + visualize.GAP) // (
        256 + visualize.TITLE_HEIGHT + visualize.GAP
    )
    assert rows * columns >= 5 > (rows - 1) * columns
    band = montage[visualize.MARGIN : top, left : left + 256]
    assert (band != visualize.BACKGROUND).any(axis=2).sum() > 100  # a title is written


def test_preview_errors(samples_dir, tmp_path, capsys):
    out = str(tmp_path / "p.png")
    camera = str(samples_dir / "camera.png")
    assert cli.main(["preview", camera, "-o", out, "-p", "sobel | nonsense"]) == 2
    assert "pipeline error" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"no image here")
    assert cli.main(["preview", str(tmp_path / "bad.png"), "-o", out]) == 1
    assert "bad.png" in capsys.readouterr().err
    assert cli.main(["preview", str(tmp_path / "absent.png"), "-o", out]) == 1
    assert "absent.png" in capsys.readouterr().err
    assert not os.path.exists(out)
