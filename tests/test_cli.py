"""The command line, in-process: ``main([...])`` with captured output."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

import imgrad
from imgrad import cli, progress
from imgrad._params import Bool, PlaneName, PlaneNames
from imgrad.batch import Report
from imgrad.manifest import MANIFEST_NAME, PIPELINE_RECORD_NAME, Entry
from imgrad.ops import STEPS


@pytest.fixture
def photo_dir(tmp_path, samples_dir):
    folder = tmp_path / "photo_dir"
    folder.mkdir()
    for name in ("camera.png", "coins.png", "rocket.jpg"):
        shutil.copy(samples_dir / name, folder / name)
    return folder


POLAR_PLANES = ("magnitude", "phase")


def _record(out):
    with open(os.path.join(out, PIPELINE_RECORD_NAME), encoding="utf-8") as file:
        return yaml.safe_load(file)


def _manifest(out):
    with open(os.path.join(out, MANIFEST_NAME), encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def _usage_error(capsys, argv):
    """Run a command that must fail with exit 2 and one line on stderr; return the line."""
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


# --- version, help ------------------------------------------------------------------


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"imgrad {imgrad.__version__}\n"


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "run",
        "sobel",
        "scharr",
        "prewitt",
        "morph",
        "magnitude",
        "phase",
        "polar",
        "ops",
        "info",
        "preview",
    ):
        assert re.search(rf"\n    {command}\s", out)


def test_help_and_version_import_neither_numpy_nor_opencv():
    code = (
        "import sys; from imgrad.cli import main; main(['--help']); main(['--version']); "
        "sys.stderr.write(repr(sorted(m for m in ('numpy', 'cv2', 'yaml', 'tqdm') "
        "if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stderr == "[]"


# --- shortcut flags come from the step definitions --------------------------------------


@pytest.mark.parametrize("command", cli.ONE_STEP + cli.FROM_GRADIENT)
def test_shortcut_flags_are_the_step_parameters(capsys, command):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for param in STEPS[command].params:
        flag = f"--{param.name.replace('_', '-')}"
        if isinstance(param, (PlaneName, PlaneNames)):
            assert f"{flag} " not in out  # plane wiring is fixed by the shortcut
        else:
            assert flag in out
            if isinstance(param, Bool):
                assert f"--no-{param.name}" in out
    assert ("--method" in out) == (command in cli.FROM_GRADIENT)


def test_morph_shortcut_runs_the_step_with_its_flags(capsys, photo_dir, tmp_path):
    out = tmp_path / "out"
    flags = "--kind internal --footprint ellipse --size 5".split()
    argv = ["morph", str(photo_dir / "coins.png"), "-o", str(out), *flags]
    assert cli.main(argv) == 0
    assert _record(out)["imgrad"]["pipeline"] == "morph kind=internal footprint=ellipse size=5"
    gray = cv2.imread(str(photo_dir / "coins.png"), cv2.IMREAD_GRAYSCALE)
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    with Image.open(out / "coins.morph.png") as written:
        np.testing.assert_array_equal(np.asarray(written), gray - cv2.erode(gray, ellipse))


def test_sobel_shortcut_with_gray_and_boolean_flags(capsys, photo_dir, tmp_path):
    out = tmp_path / "out"
    flags = "--gray --ksize 5 --normalize --format npy".split()
    argv = ["sobel", str(photo_dir), "-o", str(out), *flags]
    assert cli.main(argv) == 0
    assert _record(out)["imgrad"]["pipeline"] == "gray | sobel ksize=5 normalize=true"
    assert sorted(os.listdir(out))[:2] == ["camera.gx.npy", "camera.gy.npy"]


def test_polar_shortcut_takes_the_derivative_method(capsys, photo_dir, tmp_path):
    out = tmp_path / "out"
    flags = "--method scharr --degrees --wrap half".split()
    argv = ["polar", str(photo_dir / "camera.png"), "-o", str(out), *flags]
    assert cli.main(argv) == 0
    assert _record(out)["imgrad"]["pipeline"] == "scharr | polar degrees=true wrap=half"
    assert sorted(os.listdir(out)) == [
        "camera.magnitude.png",
        "camera.phase.png",
        MANIFEST_NAME,
        PIPELINE_RECORD_NAME,
    ]


def test_bad_shortcut_value_names_the_parameter(capsys, photo_dir, tmp_path):
    line = _usage_error(
        capsys, ["sobel", str(photo_dir), "-o", str(tmp_path / "o"), "--ksize", "4"]
    )
    assert "'ksize'" in line and "4" in line
    line = _usage_error(
        capsys, ["magnitude", str(photo_dir), "-o", str(tmp_path / "o"), "--method", "sobell"]
    )
    assert "invalid choice: 'sobell'" in line


# --- run ----------------------------------------------------------------------------


def test_run_prints_a_summary_on_stderr_only(capsys, photo_dir, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", str(photo_dir), "-o", str(out), "-p", "gray | sobel | magnitude"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3 ok, 0 skipped, 0 failed" in captured.err
    assert f"outputs: {out}" in captured.err
    assert cli.main(["run", str(photo_dir), "-o", str(out), "-p", "gray | sobel | magnitude"]) == 0
    assert "0 ok, 3 skipped, 0 failed" in capsys.readouterr().err


def test_run_without_a_pipeline_runs_the_default_and_says_so(capsys, photo_dir, tmp_path):
    out, explicit = tmp_path / "out", tmp_path / "explicit"
    assert cli.main(["run", str(photo_dir), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert 'pipeline "gray | sobel | polar" (the default; -p or -c to choose)' in err
    assert _record(out)["imgrad"]["pipeline"] == "gray | sobel | polar"
    argv = ["run", str(photo_dir), "-o", str(explicit), "-p", "gray | sobel | polar", "-q"]
    assert cli.main(argv) == 0
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("imgrad-"))
    assert written == sorted(
        f"{stem}.{plane}.png" for stem in ("camera", "coins", "rocket") for plane in POLAR_PLANES
    )
    for name in written:
        assert (out / name).read_bytes() == (explicit / name).read_bytes(), name
    # The same pipeline written out resumes the default run, and the other way round.
    assert cli.main(["run", str(photo_dir), "-o", str(out), "-p", "gray | sobel | polar"]) == 0
    assert "0 ok, 3 skipped" in capsys.readouterr().err
    assert cli.main(["run", str(photo_dir), "-o", str(explicit)]) == 0
    assert "0 ok, 3 skipped" in capsys.readouterr().err


def test_quiet_run_with_the_default_pipeline_prints_nothing(capsys, photo_dir, tmp_path):
    assert cli.main(["run", str(photo_dir), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert capsys.readouterr() == ("", "")


def test_quiet_run_prints_nothing_when_all_is_well(capsys, photo_dir, tmp_path):
    argv = ["run", str(photo_dir), "-o", str(tmp_path / "out"), "-p", "sobel", "-q"]
    assert cli.main(argv) == 0
    assert capsys.readouterr() == ("", "")


def test_failures_give_exit_1_and_are_listed(capsys, photo_dir, tmp_path):
    for i in range(12):
        (photo_dir / f"bad{i:02d}.png").write_bytes(b"")
    argv = ["run", str(photo_dir), "-o", str(tmp_path / "out"), "-p", "sobel", "--quiet"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "failed (12):" in err and "bad00.png: " in err
    assert "and 2 more: see" in err and MANIFEST_NAME in err


def test_dry_run_lists_on_stdout_and_writes_nothing(capsys, photo_dir, tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["run", str(photo_dir), "-o", str(out), "-p", "sobel | polar", "--dry-run"]) == 0
    )
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"process {photo_dir / name} -> {stem}.magnitude.png, {stem}.phase.png"
        for name, stem in (
            ("camera.png", "camera"),
            ("coins.png", "coins"),
            ("rocket.jpg", "rocket"),
        )
    ]
    assert "dry run: 3 to process" in captured.err
    assert not out.exists()


def test_config_file_and_its_record_reproduce_the_run(capsys, photo_dir, tmp_path):
    config = tmp_path / "edges.yaml"
    config.write_text("steps:\n  - gray\n  - sobel: {ksize: 5}\n  - magnitude\n")
    out = tmp_path / "out"
    assert cli.main(["run", str(photo_dir), "-o", str(out), "--config", str(config)]) == 0
    assert _record(out)["imgrad"]["pipeline"] == "gray | sobel ksize=5 | magnitude"
    record = out / PIPELINE_RECORD_NAME
    # The record of a run is a config: running it again finds everything done.
    assert cli.main(["run", str(photo_dir), "-o", str(out), "--config", str(record)]) == 0
    assert "0 ok, 3 skipped" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "{photo_dir}", "-o", "{out}", "-p", "gray | sobl"], "Unknown step 'sobl'"),
        (
            ["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "--format", "gif"],
            "invalid choice",
        ),
        (["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "--workers", "0"], "--workers"),
        (["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "--bogus"], "unrecognized"),
        (["run", "{photo_dir}", "-p", "sobel"], "required: -o/--out"),
        (
            ["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "-c", "{photo_dir}/p.yaml"],
            "not allowed with argument -p/--pipeline",
        ),
        (["run", "{photo_dir}/nope.png", "-o", "{out}", "-p", "sobel"], "No such file or folder"),
        (["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "--outputs", "phase"], "'phase'"),
        (["run", "{photo_dir}", "-o", "{out}", "-p", "sobel", "--scale", "none"], "'scale'"),
        (["run", "{photo_dir}", "-o", "{photo_dir}", "-p", "sobel"], "also an input folder"),
        (["run", "{photo_dir}", "-o", "{out}", "--config", "{photo_dir}/no.yaml"], "no.yaml"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, photo_dir, tmp_path, argv, expected):
    argv = [a.format(photo_dir=photo_dir, out=tmp_path / "out") for a in argv]
    line = _usage_error(capsys, argv)
    assert line.startswith("imgrad") and ": error: " in line
    assert expected in line
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(capsys, photo_dir, tmp_path):
    argv = ["run", str(photo_dir), "-o", str(tmp_path / "out"), "-p", "sobl", "--debug"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "PipelineError" in err
    assert err.splitlines()[-1].startswith("imgrad: error: pipeline error:")


# --- ops, info ------------------------------------------------------------------------


def test_ops_lists_every_step_and_parameter(capsys):
    assert cli.main(["ops"]) == 0
    out = capsys.readouterr().out
    for name, step in STEPS.items():
        assert f"{name}: {step.summary}" in out
    assert "    ksize=3  (an odd integer from 1 to 31)" in out


def test_ops_json_is_available_ops(capsys):
    assert cli.main(["ops", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(imgrad.available_ops()))
    assert cli.main(["ops", "morph", "--json"]) == 0
    assert [op["name"] for op in json.loads(capsys.readouterr().out)] == ["morph"]
    assert "unknown step 'sobl'" in _usage_error(capsys, ["ops", "sobl"])


def test_info_reports_size_channels_dtype(capsys, photo_dir, samples_dir):
    (photo_dir / "empty.png").write_bytes(b"")
    assert cli.main(["info", str(photo_dir)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    for name, line in zip(("camera.png", "coins.png", "rocket.jpg"), lines, strict=True):
        with Image.open(samples_dir / name) as image:
            width, height = image.size
            channels = len(image.getbands())
        assert line.startswith(f"{photo_dir / name}: ")
        assert f"{width}x{height}" in line and f"{channels} channel" in line and "uint8" in line
    assert "empty.png" in captured.err and captured.err.count("\n") == 1
    assert cli.main(["info", "--json", str(photo_dir / "rocket.jpg")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["format"], info["width"], info["height"], info["channels"]) == (
        "jpeg",
        640,
        427,
        3,
    )


# --- progress displays ------------------------------------------------------------------


def test_log_progress_prints_failures_and_where_the_run_is():
    stream = io.StringIO()
    display = progress.LogProgress(stream, interval=0.0)
    display.start(3)
    display.advance(Entry("a.png", "ok"))
    display.advance(Entry("b.png", "failed", error="file is empty (0 bytes)"))
    display.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "imgrad: 3 inputs"
    assert lines[1].startswith("imgrad: 1/3 done (1 ok, 0 skipped, 0 failed)")
    assert lines[2] == "imgrad: failed b.png: file is empty (0 bytes)"
    assert lines[3].startswith("imgrad: 2/3 done (1 ok, 0 skipped, 1 failed)")
    assert "left" in lines[3]


def test_bar_progress_counts_and_prints_failures_above_the_bar():
    stream = io.StringIO()
    display = progress.BarProgress(stream)
    display.start(2)
    display.advance(Entry("a.png", "ok"))
    display.advance(Entry("b.png", "failed", error="truncated PNG"))
    display.close()
    text = stream.getvalue()
    assert "imgrad: failed b.png: truncated PNG" in text
    assert "2/2" in text


def test_summary_lists_the_first_failures_then_points_to_the_manifest():
    report = Report(out="out", manifest="out/imgrad-manifest.jsonl", ok=5, failed=13, seconds=2.0)
    report.failures = [(f"bad{i}.png", "file is empty (0 bytes)") for i in range(13)]
    lines = progress.summary(report).splitlines()
    assert lines[0] == "imgrad: 5 ok, 0 skipped, 13 failed in 2.0 s (9.0 images/s)"
    assert lines[1] == "failed (13):"
    assert lines[2:12] == [f"  bad{i}.png: file is empty (0 bytes)" for i in range(10)]
    assert lines[12] == "  and 3 more: see out/imgrad-manifest.jsonl"
    assert lines[13] == "outputs: out (manifest: out/imgrad-manifest.jsonl)"
    assert progress.summary(report, quiet=True).splitlines()[0] == "failed (13):"
    assert progress.summary(Report(out="o", manifest="m", ok=1), quiet=True) == ""
