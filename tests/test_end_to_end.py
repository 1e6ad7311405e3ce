"""The real ``imgrad`` executable on copies of the sample photographs.

Each test runs the installed console script (next to the Python running the
tests) in a temporary folder, as a user would: exit codes, what is printed,
the files written, and what survives a kill.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

IMGRAD = Path(sys.executable).parent / "imgrad"
SAMPLE_NAMES = (
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "rocket.jpg",
)
MAIN_JOB = [
    "-p",
    "gray | sobel | polar | morph kind=basic name=basic | morph kind=internal "
    "name=internal | morph kind=external name=external",
    "--outputs",
    "magnitude,phase,basic,internal,external",
]
PLANES = ("magnitude", "phase", "basic", "internal", "external")
TEMP_MARKER = ".imgrad-tmp-"


def imgrad(*args, cwd, check_code=None, timeout=120):
    result = subprocess.run(
        [str(IMGRAD), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check_code is not None:
        assert result.returncode == check_code, result.stderr
    return result


def start(*args, cwd):
    """Start imgrad in the background, with Ctrl-C enabled whatever the test runner does."""
    return subprocess.Popen(
        [str(IMGRAD), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def manifest(out):
    path = Path(out) / "imgrad-manifest.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # a line cut by SIGKILL
            continue
    return records


def outputs(out):
    """Relative paths of the output files (imgrad's own records left out)."""
    out = Path(out)
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith("imgrad-")
    )


def temp_files(root):
    return [p for p in Path(root).rglob("*") if TEMP_MARKER in p.name]


def wait_for_lines(out, count, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while len(manifest(out)) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run did not progress"
        time.sleep(0.005)


@pytest.fixture
def dataset(tmp_path, samples_dir):
    """data/class_a and data/class_b, each with copies of every sample photograph."""
    for folder in ("class_a", "class_b"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for name in SAMPLE_NAMES:
            shutil.copy(samples_dir / name, tmp_path / "data" / folder / name)
    return tmp_path


@pytest.fixture
def big_dataset(tmp_path, samples_dir):
    """90 photographs in three class folders: long enough to interrupt mid-way."""
    for c in range(3):
        folder = tmp_path / "data" / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(5):
            for name in SAMPLE_NAMES:
                stem, ext = os.path.splitext(name)
                shutil.copy(samples_dir / name, folder / f"{stem}_{i}{ext}")
    return tmp_path


def test_executable_is_installed():
    assert IMGRAD.is_file(), f"no imgrad executable next to {sys.executable}"


def test_main_job_on_the_samples_folder(tmp_path, samples_dir):
    shutil.copytree(samples_dir, tmp_path / "samples")  # also holds non-image files
    result = imgrad("run", "samples/", "-o", "out/", *MAIN_JOB, cwd=tmp_path, check_code=0)
    assert result.stdout == ""
    assert "6 ok, 0 skipped, 0 failed" in result.stderr
    assert "outputs: out" in result.stderr
    stems = [os.path.splitext(n)[0] for n in SAMPLE_NAMES]
    assert outputs(tmp_path / "out") == sorted(f"{s}.{p}.png" for s in stems for p in PLANES)


def test_run_with_no_pipeline_just_works(tmp_path, samples_dir):
    """``imgrad run photos/ -o grads/``: gradient magnitude and phase of every photo."""
    shutil.copytree(samples_dir, tmp_path / "photos")
    result = imgrad("run", "photos/", "-o", "grads/", cwd=tmp_path, check_code=0)
    assert "6 ok, 0 skipped, 0 failed" in result.stderr
    assert '"gray | sobel | polar" (the default' in result.stderr
    stems = [os.path.splitext(n)[0] for n in SAMPLE_NAMES]
    planes = ("magnitude", "phase")
    assert outputs(tmp_path / "grads") == sorted(f"{s}.{p}.png" for s in stems for p in planes)
    # The magnitude is OpenCV's Sobel magnitude, scaled min..max to 0..255.
    gray = cv2.imread(str(samples_dir / "camera.png"), cv2.IMREAD_GRAYSCALE)
    gx, gy = cv2.Sobel(gray, cv2.CV_64F, 1, 0), cv2.Sobel(gray, cv2.CV_64F, 0, 1)
    magnitude = np.hypot(gx, gy)
    expected = 255 * (magnitude - magnitude.min()) / (magnitude.max() - magnitude.min())
    written = cv2.imread(str(tmp_path / "grads" / "camera.magnitude.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and written.shape == gray.shape
    assert np.abs(written.astype(float) - expected).max() <= 0.5 + 1e-6


def test_harmless_png_chunks_never_reach_the_terminal(tmp_path):
    # libpng prints its warnings (iCCP profiles, bad sRGB, ...) to file descriptor 2, from
    # the threads that decode.
    from .test_io import harmless_pngs

    data = tmp_path / "data"
    data.mkdir()
    files = harmless_pngs(data)
    for path in files.values():
        if path.parent != data:
            shutil.copy(path, data / path.name)
    result = imgrad("run", "data", "-o", "out", "--workers", "2", cwd=tmp_path, check_code=0)
    assert "libpng" not in result.stderr, result.stderr
    records = manifest(tmp_path / "out")
    assert len(records) == len(files) and {r["status"] for r in records} == {"ok"}


def test_mirrored_tree_and_manifest(dataset):
    imgrad("run", "data", "-o", "out", *MAIN_JOB, cwd=dataset, check_code=0)
    expected = sorted(
        f"{folder}/{os.path.splitext(name)[0]}.{plane}.png"
        for folder in ("class_a", "class_b")
        for name in SAMPLE_NAMES
        for plane in PLANES
    )
    assert outputs(dataset / "out") == expected
    records = manifest(dataset / "out")
    assert sorted(r["input"] for r in records) == sorted(
        f"data/{folder}/{name}" for folder in ("class_a", "class_b") for name in SAMPLE_NAMES
    )
    for record in records:
        assert record["status"] == "ok" and record["error"] is None
        folder = record["input"].split("/")[1]
        stem = os.path.splitext(os.path.basename(record["input"]))[0]
        assert record["outputs"] == [f"{folder}/{stem}.{plane}.png" for plane in PLANES]
    assert len({r["pipeline"] for r in records}) == 1
    assert sorted(p.name for p in (dataset / "out").iterdir() if p.is_file()) == [
        "imgrad-manifest.jsonl",
        "imgrad-pipeline.yaml",
    ]


def test_bad_files_among_good_ones(dataset, samples_dir):
    bad = dataset / "data" / "class_c"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "fake.jpg").write_text("this is text")
    data = (samples_dir / "coffee.png").read_bytes()
    (bad / "cut.png").write_bytes(data[: len(data) // 2])
    result = imgrad(
        "run", "data", "-o", "out", "-p", "gray | sobel | magnitude", cwd=dataset, check_code=1
    )
    assert "12 ok, 0 skipped, 3 failed" in result.stderr
    for name in ("empty.png", "fake.jpg", "cut.png"):
        assert f"data/class_c/{name}: " in result.stderr
    failed = {r["input"]: r for r in manifest(dataset / "out") if r["status"] == "failed"}
    assert sorted(failed) == [
        "data/class_c/cut.png",
        "data/class_c/empty.png",
        "data/class_c/fake.jpg",
    ]
    assert all(r["error"] for r in failed.values())
    assert len(outputs(dataset / "out")) == 12


def test_resume_skips_and_a_changed_pipeline_redoes(dataset):
    args = ["run", "data", "-o", "out", "-p", "sobel | magnitude"]
    imgrad(*args, cwd=dataset, check_code=0)
    before = {p: (dataset / "out" / p).stat().st_mtime_ns for p in outputs(dataset / "out")}
    again = imgrad(*args, cwd=dataset, check_code=0)
    assert "0 ok, 12 skipped, 0 failed" in again.stderr
    assert {
        p: (dataset / "out" / p).stat().st_mtime_ns for p in outputs(dataset / "out")
    } == before
    assert [r["status"] for r in manifest(dataset / "out")] == ["ok"] * 12 + ["skipped"] * 12
    changed = imgrad(
        "run", "data", "-o", "out", "-p", "sobel ksize=5 | magnitude", cwd=dataset, check_code=0
    )
    assert "12 ok, 0 skipped, 0 failed" in changed.stderr
    first, *_, last = (r["pipeline"] for r in manifest(dataset / "out"))
    assert first != last
    assert last in (dataset / "out" / "imgrad-pipeline.yaml").read_text()
    assert first in (dataset / "out" / f"imgrad-pipeline-{first}.yaml").read_text()


def test_sigkill_then_resume_gives_the_same_outputs_as_a_clean_run(big_dataset):
    args = ["run", "data", *MAIN_JOB, "--workers", "2"]
    imgrad(*args, "-o", "clean", cwd=big_dataset, check_code=0)

    process = start(*args, "-o", "killed", cwd=big_dataset)
    wait_for_lines(big_dataset / "killed", 4, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    done_before = [r["input"] for r in manifest(big_dataset / "killed") if r["status"] == "ok"]
    assert 4 <= len(done_before) < 90, "the run was not killed mid-way"

    resumed = imgrad(*args, "-o", "killed", cwd=big_dataset, check_code=0)
    assert f"{90 - len(done_before)} ok, {len(done_before)} skipped, 0 failed" in resumed.stderr
    assert temp_files(big_dataset / "killed") == []
    assert outputs(big_dataset / "killed") == outputs(big_dataset / "clean")
    for name in outputs(big_dataset / "clean"):
        assert (big_dataset / "killed" / name).read_bytes() == (
            big_dataset / "clean" / name
        ).read_bytes(), name


def test_ctrl_c_exits_130_with_a_consistent_manifest(big_dataset):
    args = ["run", "data", "-o", "out", "-p", "gray | sobel | polar", "--workers", "2"]
    process = start(*args, cwd=big_dataset)
    wait_for_lines(big_dataset / "out", 3, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    text = (big_dataset / "out" / "imgrad-manifest.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]  # every line whole
    assert 3 <= len(records) < 90
    for record in records:
        assert record["status"] == "ok"
        assert all((big_dataset / "out" / rel).is_file() for rel in record["outputs"])
    assert temp_files(big_dataset / "out") == []
    rest = imgrad(*args, cwd=big_dataset, check_code=0)
    assert f"{90 - len(records)} ok, {len(records)} skipped" in rest.stderr


def test_output_folder_inside_the_input_folder(dataset):
    imgrad("run", "data", "-o", "data/grads", "-p", "sobel | magnitude", cwd=dataset, check_code=0)
    again = imgrad(
        "run", "data", "-o", "data/grads", "-p", "sobel | magnitude", cwd=dataset, check_code=0
    )
    assert "0 ok, 12 skipped, 0 failed" in again.stderr
    assert len(outputs(dataset / "data" / "grads")) == 12


def test_dry_run_writes_nothing(dataset):
    result = imgrad("run", "data", "-o", "out", *MAIN_JOB, "--dry-run", cwd=dataset, check_code=0)
    lines = result.stdout.splitlines()
    assert len(lines) == 12 and all(line.startswith("process data/class_") for line in lines)
    assert "dry run: 12 to process" in result.stderr
    assert not (dataset / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "data", "-o", "out", "-p", "gray | sobol"], "Unknown step 'sobol'"),
        (["run", "data", "-o", "out", "-p", "sobel", "--depht", "16"], "unrecognized arguments"),
        (["run", "data", "-o", "out", "-p", "sobel", "--format", "gif"], "invalid choice"),
        (["run", "missing", "-o", "out", "-p", "sobel"], "No such file or folder: missing"),
    ],
)
def test_usage_errors_exit_2_in_one_line(dataset, args, message):
    result = imgrad(*args, cwd=dataset, check_code=2)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (dataset / "out").exists()
    debug = imgrad(*args, "--debug", cwd=dataset, check_code=2)
    assert debug.stderr.startswith("Traceback")
    assert debug.stderr.splitlines()[-1] == result.stderr.strip()


def test_one_or_two_workers_write_the_same_bytes(dataset):
    for workers in ("1", "2"):
        imgrad(
            "run",
            "data",
            "-o",
            f"w{workers}",
            *MAIN_JOB,
            "--workers",
            workers,
            cwd=dataset,
            check_code=0,
        )
    assert outputs(dataset / "w1") == outputs(dataset / "w2")
    for name in outputs(dataset / "w1"):
        assert (dataset / "w1" / name).read_bytes() == (dataset / "w2" / name).read_bytes()


def test_python_dash_m_imgrad(tmp_path):
    from imgrad import __version__

    result = subprocess.run(
        [sys.executable, "-m", "imgrad", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"imgrad {__version__}\n"


def test_ops_and_info(dataset):
    ops = imgrad("ops", cwd=dataset, check_code=0)
    assert "sobel: " in ops.stdout and "ksize=3" in ops.stdout
    info = imgrad(
        "info", "data/class_a/coins.png", "data/class_a/rocket.jpg", cwd=dataset, check_code=0
    )
    assert info.stdout.splitlines() == [
        "data/class_a/coins.png: PNG 384x303, 1 channel, uint8",
        "data/class_a/rocket.jpg: JPEG 640x427, 3 channels, uint8",
    ]
