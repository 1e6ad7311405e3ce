"""The batch runner, in-process: finding inputs, outputs, manifest, resume, failures.

Output values are checked against OpenCV computed here, read back with Pillow
and tifffile (not with imgrad).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading

import cv2
import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image

import imgrad
from imgrad import batch
from imgrad.manifest import MANIFEST_NAME, PIPELINE_RECORD_NAME

MAIN_JOB = (
    "gray | sobel | polar | morph kind=basic name=basic | morph kind=internal "
    "name=internal | morph kind=external name=external"
)
MAIN_OUTPUTS = "magnitude,phase,basic,internal,external"


# --- helpers ------------------------------------------------------------------------


def _copy(samples_dir, dest, *names):
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        source, _, target = name.partition(":")
        shutil.copy(samples_dir / source, dest / (target or source))
    return dest


def _manifest(out):
    with open(os.path.join(out, MANIFEST_NAME), encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def _png(path):
    with Image.open(path) as image:
        pixels = np.asarray(image)
        if image.mode == "I":  # Pillow before 10.4 opens 16-bit grey PNGs as 32-bit
            assert pixels.min() >= 0 and pixels.max() <= 65535
            return pixels.astype(np.uint16)
        return pixels


def _files(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    )


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _sobel(gray):
    return (
        cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101),
        cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101),
    )


def _minmax_uint8(plane):
    plane = plane.astype(np.float64)
    low, high = plane.min(), plane.max()
    return np.clip(np.rint((plane - low) * 255.0 / (high - low)), 0, 255).astype(np.uint8)


@pytest.fixture
def tree(tmp_path, samples_dir):
    """data/ with class sub-folders, a non-image file and a hidden file."""
    data = tmp_path / "data"
    _copy(samples_dir, data / "class_a", "camera.png", "coins.png")
    _copy(samples_dir, data / "class_b", "rocket.jpg", "chelsea.png")
    _copy(samples_dir, data, "astronaut.png")
    (data / "notes.txt").write_text("not an image")
    _copy(samples_dir, data, "coins.png:.hidden.png")
    return data


# --- finding inputs -----------------------------------------------------------------


def test_folders_are_walked_in_sorted_order_with_mirrored_keys(tree):
    found = list(batch.find_inputs([tree]))
    assert [(os.path.relpath(s.path, tree), s.key) for s in found] == [
        ("astronaut.png", "astronaut"),
        ("class_a/camera.png", "class_a/camera"),
        ("class_a/coins.png", "class_a/coins"),
        ("class_b/chelsea.png", "class_b/chelsea"),
        ("class_b/rocket.jpg", "class_b/rocket"),
    ]
    assert all(s.error is None for s in found)


def test_no_recursive_stays_at_the_top(tree):
    assert [s.key for s in batch.find_inputs(tree, recursive=False)] == ["astronaut"]


def test_include_and_exclude_patterns(tree):
    def keys(**kw):
        return [s.key for s in batch.find_inputs([tree], **kw)]

    assert keys(include=["*.png"]) == [
        "astronaut",
        "class_a/camera",
        "class_a/coins",
        "class_b/chelsea",
    ]
    assert keys(exclude=["coins.*", "*.jpg"]) == ["astronaut", "class_a/camera", "class_b/chelsea"]
    assert keys(exclude=["class_b"]) == ["astronaut", "class_a/camera", "class_a/coins"]
    assert keys(include=["class_a/*"]) == ["class_a/camera", "class_a/coins"]


def test_glob_patterns_mirror_below_their_fixed_part(tree):
    found = list(batch.find_inputs([str(tree / "class_*" / "c*.png")]))
    assert [s.key for s in found] == ["class_a/camera", "class_a/coins", "class_b/chelsea"]


def test_several_folders_keep_their_own_names(tree):
    found = list(batch.find_inputs([tree / "class_b", tree / "class_a"]))
    assert [s.key for s in found] == [
        "class_b/chelsea",
        "class_b/rocket",
        "class_a/camera",
        "class_a/coins",
    ]


def test_files_named_one_by_one_go_to_the_top(tree):
    found = list(batch.find_inputs([tree / "class_a" / "coins.png", tree / "astronaut.png"]))
    assert [s.key for s in found] == ["class_a/coins", "astronaut"]
    assert [s.key for s in batch.find_inputs(tree / "class_b" / "rocket.jpg")] == ["rocket"]


def test_a_file_reached_twice_is_found_once(tree):
    inputs = [
        tree / "class_a" / "camera.png",
        tree,
        tree / "class_a",
        tree,
        str(tree / "class_a" / "*.png"),
        tree / "astronaut.png",
    ]
    keys = [s.key for s in batch.find_inputs(inputs)]
    assert sorted(keys) == [
        "astronaut",
        "class_a/camera",
        "class_a/coins",
        "class_b/chelsea",
        "class_b/rocket",
    ]


def test_names_that_would_write_the_same_outputs_are_errors(tree, samples_dir):
    _copy(samples_dir, tree / "class_a", "rocket.jpg:camera.jpg")
    found = {os.path.basename(s.path): s for s in batch.find_inputs(tree / "class_a")}
    assert found["camera.jpg"].error is None  # first in sorted order
    assert "same output names as camera.jpg" in found["camera.png"].error
    loose = list(
        batch.find_inputs([tree / "class_a" / "camera.png", tree / "class_a" / "camera.jpg"])
    )
    assert loose[0].error is None and "camera.png" in loose[1].error
    assert all(s.error is None for s in batch.find_inputs(tree / "class_a", unique_names=False))


def test_the_skipped_folder_is_never_read(tree):
    out = tree / "class_a" / "grads"
    _copy(tree / "class_a", out, "camera.png:camera.magnitude.png")
    keys = [s.key for s in batch.find_inputs(tree, skip=out)]
    assert keys == [
        "astronaut",
        "class_a/camera",
        "class_a/coins",
        "class_b/chelsea",
        "class_b/rocket",
    ]
    assert [s.key for s in batch.find_inputs(out / "camera.magnitude.png", skip=out)] == []


def test_symbolic_link_loops_are_walked_once(tree):
    os.symlink(tree, tree / "class_a" / "loop")
    keys = [s.key for s in batch.find_inputs(tree)]
    assert len(keys) == len(set(keys)) == 5


def test_missing_inputs_are_reported_before_anything_is_found(tree):
    with pytest.raises(FileNotFoundError, match="No such file or folder") as info:
        batch.find_inputs([tree, tree / "nope"])
    assert info.value.filename == str(tree / "nope")
    with pytest.raises(FileNotFoundError, match="No image file matches"):
        batch.find_inputs(str(tree / "*.gif"))
    with pytest.raises(ValueError, match="at least one"):
        batch.find_inputs([])


# --- outputs --------------------------------------------------------------------------


def test_main_job_writes_mirrored_planes_equal_to_opencv(tree, tmp_path):
    out = tmp_path / "out"
    report = batch.run([tree], out, MAIN_JOB, outputs=MAIN_OUTPUTS, workers=2)
    assert (report.ok, report.skipped, report.failed, report.failures) == (5, 0, 0, [])
    planes = MAIN_OUTPUTS.split(",")
    expected = sorted(
        [
            f"{key}.{plane}.png"
            for key in (
                "astronaut",
                "class_a/camera",
                "class_a/coins",
                "class_b/chelsea",
                "class_b/rocket",
            )
            for plane in planes
        ]
        + [MANIFEST_NAME, PIPELINE_RECORD_NAME]
    )
    assert _files(out) == sorted(p.replace("/", os.sep) for p in expected)

    rgb = _rgb(tree / "class_b" / "chelsea.png")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gx, gy = _sobel(gray)
    magnitude = np.hypot(gx.astype(np.float64), gy.astype(np.float64))
    written = _png(out / "class_b" / "chelsea.magnitude.png")
    assert written.dtype == np.uint8 and written.shape == gray.shape
    assert np.abs(written.astype(int) - _minmax_uint8(magnitude)).max() <= 1
    square = np.ones((3, 3), np.uint8)
    dilated, eroded = cv2.dilate(gray, square), cv2.erode(gray, square)
    # Integer planes are written unchanged: no per-image stretch.
    np.testing.assert_array_equal(_png(out / "class_b" / "chelsea.internal.png"), gray - eroded)
    np.testing.assert_array_equal(_png(out / "class_b" / "chelsea.external.png"), dilated - gray)
    np.testing.assert_array_equal(_png(out / "class_b" / "chelsea.basic.png"), dilated - eroded)


def test_float_planes_to_tif_and_npy_are_exact(tree, tmp_path):
    gray = cv2.imread(str(tree / "class_a" / "camera.png"), cv2.IMREAD_GRAYSCALE)
    gx, gy = _sobel(gray)
    batch.run(tree / "class_a" / "camera.png", tmp_path / "tif", "sobel", format="tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "tif" / "camera.gx.tif"), gx)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "tif" / "camera.gy.tif"), gy)
    batch.run(tree / "class_a" / "camera.png", tmp_path / "npy", "sobel", format="npy")
    loaded = np.load(tmp_path / "npy" / "camera.gy.npy")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, gy)


def test_scale_and_depth_options(tree, tmp_path):
    gray = cv2.imread(str(tree / "class_a" / "coins.png"), cv2.IMREAD_GRAYSCALE)
    gx, _ = _sobel(gray)
    source = tree / "class_a" / "coins.png"
    batch.run(source, tmp_path / "d16", "sobel", depth=16, outputs="gx")
    wide = _png(tmp_path / "d16" / "coins.gx.png")
    assert wide.dtype == np.uint16 and wide.min() == 0 and wide.max() == 65535
    low, high = float(gx.min()), float(gx.max())
    reference = np.rint((gx.astype(np.float64) - low) * 65535 / (high - low))
    assert np.abs(wide.astype(np.int64) - reference).max() <= 1
    batch.run(source, tmp_path / "clip", "sobel", scale="clip", outputs="gx")
    np.testing.assert_array_equal(
        _png(tmp_path / "clip" / "coins.gx.png"), np.clip(np.rint(gx), 0, 255).astype(np.uint8)
    )
    batch.run(source, tmp_path / "tif16", "sobel", format="tif", scale="minmax", depth=16)
    assert tifffile.imread(tmp_path / "tif16" / "coins.gx.tif").dtype == np.uint16
    batch.run(source, tmp_path / "jpg", "sobel | magnitude", format="jpg")
    with Image.open(tmp_path / "jpg" / "coins.magnitude.jpg") as image:
        assert image.format == "JPEG" and image.size == (gray.shape[1], gray.shape[0])


def test_outputs_are_the_same_bytes_whatever_the_workers(tree, tmp_path):
    for workers in (1, 3):
        batch.run(
            [tree],
            tmp_path / f"w{workers}",
            "sobel | polar degrees=true",
            workers=workers,
            format="tif",
        )
    files = [f for f in _files(tmp_path / "w1") if not f.startswith("imgrad-")]
    assert files == [f for f in _files(tmp_path / "w3") if not f.startswith("imgrad-")]
    for name in files:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w3" / name).read_bytes()


def test_gray_first_gives_the_same_planes_as_the_pipeline_in_memory(tree, tmp_path):
    # Straight-to-grey decoding: for PNG it changes nothing; for JPEG the luma
    # is the decoder's own (as OpenCV's IMREAD_GRAYSCALE gives it).
    pipe = imgrad.Pipeline.parse("gray | sobel")
    batch.run([tree], tmp_path / "out", pipe, format="npy")
    jpeg_luma = cv2.imread(str(tree / "class_b/rocket.jpg"), cv2.IMREAD_GRAYSCALE)
    for key, image in (
        ("class_b/rocket", jpeg_luma),
        ("class_b/chelsea", _rgb(tree / "class_b/chelsea.png")),
    ):
        expected = pipe(image)
        for plane in ("gx", "gy"):
            np.testing.assert_array_equal(
                np.load(tmp_path / "out" / f"{key}.{plane}.npy"), expected[plane]
            )
    shapes = {os.path.basename(r["input"]): r["shape"] for r in _manifest(tmp_path / "out")}
    assert shapes["chelsea.png"] == [300, 451, 3]  # the file's image, not the grey one
    assert shapes["camera.png"] == [512, 512]


def test_pipeline_record_describes_the_run_and_loads_back(tree, tmp_path):
    out = tmp_path / "out"
    batch.run(
        tree / "class_a",
        out,
        "gray | sobel ksize=5 | polar degrees=true wrap=signed",
        outputs=["phase"],
    )
    with open(out / PIPELINE_RECORD_NAME, encoding="utf-8") as file:
        record = yaml.safe_load(file)
    assert (
        record["imgrad"]["pipeline"] == "gray | sobel ksize=5 | polar degrees=true "
        "wrap=signed -> phase"
    )
    assert record["imgrad"]["pipeline_hash"] == _manifest(out)[0]["pipeline"]
    assert record["output"]["format"] == "png" and record["output"]["scale"] == "minmax"
    assert record["conventions"]["phase"]["units"] == "degrees"
    assert record["conventions"]["phase"]["range"] == [-180.0, 180.0]
    loaded = imgrad.Pipeline.from_yaml(out / PIPELINE_RECORD_NAME)
    assert loaded == imgrad.Pipeline.parse(
        "gray | sobel ksize=5 | polar degrees=true wrap=signed -> phase"
    )


# --- manifest, resume ---------------------------------------------------------------


def test_manifest_has_one_line_per_input(tree, tmp_path):
    out = tmp_path / "out"
    batch.run([tree], out, "sobel | magnitude")
    lines = {os.path.relpath(r["input"], tree): r for r in _manifest(out)}
    assert sorted(lines) == [
        "astronaut.png",
        "class_a/camera.png",
        "class_a/coins.png",
        "class_b/chelsea.png",
        "class_b/rocket.jpg",
    ]
    line = lines["class_b/rocket.jpg"]
    assert line["status"] == "ok" and line["error"] is None
    assert line["outputs"] == ["class_b/rocket.magnitude.png"]
    assert line["shape"] == [427, 640, 3] and line["dtype"] == "uint8"
    assert line["seconds"] > 0 and line["imgrad"] == imgrad.__version__
    assert len({r["pipeline"] for r in lines.values()}) == 1


def test_resume_skips_done_inputs_and_redoes_changed_ones(tree, tmp_path):
    out = tmp_path / "out"
    assert batch.run([tree], out, "sobel | magnitude").ok == 5
    again = batch.run([tree], out, "sobel | magnitude")
    assert (again.ok, again.skipped) == (0, 5)
    assert [r["status"] for r in _manifest(out)[5:]] == ["skipped"] * 5

    os.remove(out / "class_a" / "coins.magnitude.png")  # a missing output is redone
    again = batch.run([tree], out, "sobel | magnitude")
    assert (again.ok, again.skipped) == (1, 4)

    changed = batch.run([tree], out, "sobel ksize=5 | magnitude")  # other pipeline: redo
    assert (changed.ok, changed.skipped) == (5, 0)
    assert batch.run([tree], out, "sobel | magnitude", depth=16).ok == 5  # other options
    assert batch.run([tree], out, "sobel | magnitude", depth=16, overwrite=True).ok == 5
    assert batch.run([tree], out, "sobel | magnitude", depth=16).skipped == 5


def test_bad_files_fail_with_reasons_and_the_others_are_done(tree, tmp_path, samples_dir):
    bad = tree / "class_c"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("hello, not a picture")
    data = (samples_dir / "coffee.png").read_bytes()
    (bad / "truncated.png").write_bytes(data[: len(data) // 3])
    (bad / "truncated.jpg").write_bytes((samples_dir / "rocket.jpg").read_bytes()[:5000])
    out = tmp_path / "out"
    report = batch.run([tree], out, "gray | sobel | magnitude", workers=2)
    assert (report.ok, report.failed) == (5, 4)
    reasons = dict(report.failures)
    assert sorted(os.path.basename(p) for p in reasons) == [
        "empty.png",
        "text.png",
        "truncated.jpg",
        "truncated.png",
    ]
    failed = {os.path.basename(r["input"]): r for r in _manifest(out) if r["status"] == "failed"}
    assert "empty" in failed["empty.png"]["error"]
    assert all(
        r["error"] and "\n" not in r["error"] and r["outputs"] == [] for r in failed.values()
    )
    assert not (out / "class_c").exists() or os.listdir(out / "class_c") == []
    retry = batch.run([tree], out, "gray | sobel | magnitude")
    assert (retry.skipped, retry.failed) == (5, 4)  # failures are retried, not skipped


def test_fail_fast_stops_after_the_first_failure(tree, tmp_path):
    (tree / "0-broken.png").write_text("no")
    report = batch.run([tree], tmp_path / "out", "sobel", workers=1, fail_fast=True)
    assert report.failed == 1 and report.ok < 5


def test_dry_run_writes_nothing(tree, tmp_path):
    out = tmp_path / "out"
    seen = []

    class Listing:
        def start(self, total):
            seen.append(("start", total))

        def advance(self, entry):
            seen.append((entry.status, entry.outputs))

        def close(self):
            seen.append("close")

    report = batch.run([tree], out, "sobel | magnitude", dry_run=True, progress=Listing())
    assert not out.exists()
    assert (report.planned, report.ok, report.dry_run) == (5, 0, True)
    assert seen[0] == ("start", None) and seen[-1] == "close"
    assert ("planned", ("class_a/camera.magnitude.png",)) in seen
    batch.run([tree], out, "sobel | magnitude", include=["class_a/*"])
    before = _files(out)
    report = batch.run([tree], out, "sobel | magnitude", dry_run=True)
    assert (report.planned, report.skipped) == (3, 2)
    assert _files(out) == before


def test_temporary_files_of_a_killed_run_are_removed(tree, tmp_path):
    out = tmp_path / "out"
    (out / "class_a").mkdir(parents=True)
    leftover = out / "class_a" / f".camera.gx.png{imgrad.io.TEMP_MARKER}0a1b2c"
    leftover.write_bytes(b"half an image")
    kept = out / "class_a" / "notes.txt"
    kept.write_text("mine")
    batch.run(tree / "class_a", out, "sobel")
    assert not leftover.exists() and kept.exists()
    assert not [f for f in _files(out) if imgrad.io.TEMP_MARKER in f]


def test_output_inside_an_input_folder_is_not_read_back(tree):
    out = tree / "grads"
    assert batch.run([tree], out, "sobel | magnitude").ok == 5
    assert batch.run([tree], out, "sobel | magnitude").skipped == 5  # still 5 inputs


def test_bad_options_are_refused_before_anything_is_written(tree, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(imgrad.PipelineError, match="Unknown step 'sobl'"):
        batch.run([tree], out, "sobl")
    with pytest.raises(imgrad.PipelineError, match="output plane 'phase'"):
        batch.run([tree], out, "sobel | magnitude", outputs="phase")
    with pytest.raises(ValueError, match="'format' parameter"):
        batch.run([tree], out, "sobel", format="gif")
    with pytest.raises(ValueError, match="cannot hold float planes"):
        batch.run([tree], out, "sobel", scale="none")
    with pytest.raises(ValueError, match="must be 8 for format 'jpg'"):
        batch.run([tree], out, "sobel", format="jpg", depth=16)
    with pytest.raises(ValueError, match="'workers' parameter"):
        batch.run([tree], out, "sobel", workers=0)
    with pytest.raises(ValueError, match="also an input folder"):
        batch.run([tree], tree, "sobel")
    with pytest.raises(FileNotFoundError):
        batch.run([tree / "missing"], out, "sobel")
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        batch.run([tree], tmp_path / "file", "sobel")


def test_progress_hears_of_every_input_with_the_total_first(tree, tmp_path):
    events = []

    class Recorder:
        def start(self, total):
            events.append(total)

        def advance(self, entry):
            events.append(entry.status)

        def close(self):
            events.append("close")

    batch.run([tree], tmp_path / "out", "sobel", progress=Recorder())
    assert events == [5, "ok", "ok", "ok", "ok", "ok", "close"]


def test_images_in_flight_stay_bounded(tree, tmp_path, monkeypatch, samples_dir):
    for i in range(30):
        _copy(samples_dir, tree / "many", f"coins.png:c{i:02d}.png")
    started, finished, peak = [0], [0], [0]
    lock = threading.Lock()
    real = batch.process

    def counting(*args):
        with lock:
            started[0] += 1
            peak[0] = max(peak[0], started[0] - finished[0])
        return real(*args)

    class Recorder:
        def start(self, total):
            pass

        def advance(self, entry):
            with lock:
                finished[0] += 1

        def close(self):
            pass

    monkeypatch.setattr(batch, "process", counting)
    report = batch.run([tree], tmp_path / "out", "sobel", workers=2, progress=Recorder())
    assert report.ok == 35
    assert 1 <= peak[0] <= 4  # 2 x workers: submitted but not yet recorded


def test_ctrl_c_finishes_the_images_in_flight_and_raises(tree, tmp_path, samples_dir):
    for i in range(20):
        _copy(samples_dir, tree / "many", f"camera.png:c{i:02d}.png")
    out = tmp_path / "out"

    class InterruptAfterTwo:
        count = 0

        def start(self, total):
            pass

        def advance(self, entry):
            self.count += 1
            if self.count == 2:
                os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C in the terminal

        def close(self):
            pass

    with pytest.raises(batch.BatchInterrupted) as info:
        batch.run([tree], out, "sobel | magnitude", workers=2, progress=InterruptAfterTwo())
    report = info.value.report
    assert report.interrupted and isinstance(info.value, KeyboardInterrupt)
    lines = _manifest(out)
    assert len(lines) == report.ok < 25
    for line in lines:
        assert line["status"] == "ok"
        assert all((out / rel).is_file() for rel in line["outputs"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    rest = batch.run([tree], out, "sobel | magnitude")
    assert (rest.skipped, rest.ok) == (report.ok, 25 - report.ok)
