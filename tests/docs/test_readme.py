"""The README's snippets run as shown, and its links lead somewhere.

Python blocks run from the repository root (they read ``samples/``); the
command-line example runs with the real ``imgrad`` executable on a copy of
``samples/`` and prints what the README shows (numbers aside); the set-up
commands are valid shell and their ``imgrad run`` part runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NUMBER = re.compile(r"\d+(\.\d+)?")


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text("utf-8")) if lang == language]


def commands(script: str) -> list[str]:
    """Shell commands, one per logical line: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", script)
    lines = (line.split(" #", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def imgrad_executable() -> str:
    found = shutil.which(
        "imgrad",
        path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    if found is None:
        pytest.fail("the imgrad command is not installed next to this Python")
    return found


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(imgrad_executable()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{command}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_is_short():
    assert len(README.read_text("utf-8").splitlines()) <= 260


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_snippet_runs(index, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = blocks("python")[index]
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})


def test_every_shell_snippet_is_valid_shell():
    for script in blocks("bash"):
        check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert check.returncode == 0, f"{check.stderr}\n{script}"


def _cli_example() -> tuple[list[str], str]:
    """The commands of the block titled as the command-line example, and its output block."""
    text = README.read_text("utf-8")
    section = text[text.index("## Command line") :]
    found = FENCE.findall(section)
    script = next(body for lang, body in found if lang == "bash")
    output = next(body for lang, body in found if lang == "text")
    return commands(script), output


def test_the_command_line_example_runs_and_prints_what_is_shown(tmp_path):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    example, shown = _cli_example()
    printed = []
    for command in example:
        done = run_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        printed.append(done.stderr + done.stdout)
    masked = [NUMBER.sub("N", line) for line in "".join(printed).splitlines()]
    for line in shown.splitlines():
        if line.strip() and not line.startswith("$"):
            assert NUMBER.sub("N", line) in masked, f"not printed: {line!r}\n{printed}"


def test_the_set_up_commands_run_their_imgrad_part(tmp_path):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    setup = next(body for body in blocks("bash") if "python3 -m venv" in body)
    runs = [c[c.index("imgrad run") :] for c in commands(setup) if "imgrad run" in c]
    assert runs, "no imgrad run in the set-up commands"
    for command in runs:
        done = run_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    for plane in ("magnitude", "phase", "basic", "internal", "external"):
        assert f"camera.{plane}.png" in written, written


def test_the_readme_links_lead_to_files():
    for target in LINK.findall(README.read_text("utf-8")):
        if target.startswith(("http://", "https://", "#")):
            continue
        assert (ROOT / target.split("#", 1)[0]).exists(), target
