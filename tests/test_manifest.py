"""The manifest (JSONL, appended and flushed per input) and the pipeline record."""

from __future__ import annotations

import json
import os

import pytest
import yaml

import imgrad
from imgrad.manifest import (
    MANIFEST_NAME,
    PIPELINE_RECORD_NAME,
    Entry,
    ManifestLockedError,
    ManifestWriter,
    completed_inputs,
    read_entries,
    settings_hash,
    write_pipeline_record,
)

FIELDS = ["input", "status", "outputs", "error", "shape", "dtype", "seconds", "pipeline", "imgrad"]


def _lines(path):
    with open(path, encoding="utf-8") as file:
        return file.read().splitlines()


def test_entry_line_has_every_field_in_order(tmp_path):
    entry = Entry(
        "data/a/cat.png",
        "ok",
        ("a/cat.magnitude.png",),
        None,
        (4, 5, 3),
        "uint8",
        0.25,
        "0123abcd",
        "9.9",
    )
    record = json.loads(entry.to_json())
    assert list(record) == FIELDS
    assert record == {
        "input": "data/a/cat.png",
        "status": "ok",
        "outputs": ["a/cat.magnitude.png"],
        "error": None,
        "shape": [4, 5, 3],
        "dtype": "uint8",
        "seconds": 0.25,
        "pipeline": "0123abcd",
        "imgrad": "9.9",
    }


def test_entry_defaults_record_the_running_version():
    record = json.loads(Entry("x.png", "failed", error="empty file").to_json())
    assert record["imgrad"] == imgrad.__version__
    assert record["shape"] is None and record["outputs"] == []


@pytest.mark.parametrize("name", ["caf\u00e9/\u732b.png", "bad-\udcff-bytes.png"])
def test_any_path_survives_a_round_trip(tmp_path, name):
    # Undecodable file names (surrogate escapes on POSIX) must not break the manifest.
    path = tmp_path / MANIFEST_NAME
    with ManifestWriter(path) as manifest:
        manifest.append(Entry(name, "ok", pipeline="h"))
    raw = path.read_bytes()
    assert raw.isascii()
    assert [r["input"] for r in read_entries(path)] == [name]


def test_each_line_is_flushed_before_close(tmp_path):
    path = tmp_path / MANIFEST_NAME
    with ManifestWriter(path) as manifest:
        manifest.append(Entry("a.png", "ok", pipeline="h"))
        # Another reader sees the line at once: a kill now would not lose it.
        assert [r["input"] for r in read_entries(path)] == ["a.png"]
        manifest.append(Entry("b.png", "failed", error="empty file", pipeline="h"))
        assert len(_lines(path)) == 2


def test_appends_to_an_existing_manifest(tmp_path):
    path = tmp_path / MANIFEST_NAME
    for name in ("a.png", "b.png"):
        with ManifestWriter(path) as manifest:
            manifest.append(Entry(name, "ok", pipeline="h"))
    assert [r["input"] for r in read_entries(path)] == ["a.png", "b.png"]


def test_a_line_cut_by_a_kill_is_closed_and_ignored(tmp_path):
    path = tmp_path / MANIFEST_NAME
    good = Entry("a.png", "ok", pipeline="h").to_json()
    path.write_text(good + "\n" + good[:25], encoding="utf-8")  # no final newline
    with ManifestWriter(path) as manifest:
        manifest.append(Entry("b.png", "ok", pipeline="h"))
    lines = _lines(path)
    assert lines[1] == good[:25]
    assert json.loads(lines[2])["input"] == "b.png"
    assert [r["input"] for r in read_entries(path)] == ["a.png", "b.png"]


def test_read_entries_skips_lines_that_are_not_records(tmp_path):
    path = tmp_path / MANIFEST_NAME
    path.write_text(
        '[1, 2]\n{"status": "ok"}\n\nnot json\n{"input": "x.png", "status": "ok"}\n',
        encoding="utf-8",
    )
    assert list(read_entries(path)) == [{"input": "x.png", "status": "ok"}]
    assert list(read_entries(tmp_path / "missing.jsonl")) == []


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    path = tmp_path / MANIFEST_NAME
    with ManifestWriter(path), pytest.raises(ManifestLockedError, match="another imgrad run"):
        ManifestWriter(path)
    with ManifestWriter(path):  # released on close
        pass


def _write(path, *entries):
    with open(path, "a", encoding="utf-8") as file:
        for entry in entries:
            file.write(entry.to_json() + "\n")


def test_completed_inputs_follow_the_latest_line_of_each_input(tmp_path):
    path = tmp_path / MANIFEST_NAME
    _write(
        path,
        Entry("ok-then-failed.png", "ok", pipeline="h"),
        Entry("failed-then-ok.png", "failed", error="x", pipeline="h"),
        Entry("skipped.png", "skipped", pipeline="h"),
        Entry("other-pipeline.png", "ok", pipeline="g"),
        Entry("redone-with-other.png", "ok", pipeline="h"),
        Entry("ok-then-failed.png", "failed", error="x", pipeline="h"),
        Entry("failed-then-ok.png", "ok", pipeline="h"),
        Entry("redone-with-other.png", "ok", pipeline="g"),
    )
    assert completed_inputs(path, "h") == {"failed-then-ok.png", "skipped.png"}
    assert completed_inputs(path, "g") == {"other-pipeline.png", "redone-with-other.png"}
    assert completed_inputs(tmp_path / "none.jsonl", "h") == set()


def test_settings_hash_is_stable_and_sensitive():
    settings = {"steps": ["gray", {"sobel": {"ksize": 5}}], "format": "png", "depth": 8}
    reordered = {"depth": 8, "format": "png", "steps": ["gray", {"sobel": {"ksize": 5}}]}
    digest = settings_hash(settings)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert settings_hash(reordered) == digest
    assert settings_hash({**settings, "depth": 16}) != digest
    assert settings_hash({**settings, "steps": ["gray", {"sobel": {"ksize": 3}}]}) != digest


def _load(path):
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def test_pipeline_record_is_yaml_with_its_hash(tmp_path):
    path = write_pipeline_record(
        tmp_path, {"steps": ["sobel"], "output": {"format": "png"}}, "aaaa1111"
    )
    data = _load(path)
    assert data == {
        "steps": ["sobel"],
        "output": {"format": "png"},
        "imgrad": {"pipeline_hash": "aaaa1111"},
    }
    assert os.listdir(tmp_path) == [PIPELINE_RECORD_NAME]  # no temporary file left


def test_a_record_of_another_pipeline_is_kept_under_its_hash(tmp_path):
    write_pipeline_record(tmp_path, {"steps": ["sobel"]}, "aaaa1111")
    write_pipeline_record(tmp_path, {"steps": ["sobel"]}, "aaaa1111")  # same: replaced
    assert os.listdir(tmp_path) == [PIPELINE_RECORD_NAME]
    write_pipeline_record(tmp_path, {"steps": ["scharr"]}, "bbbb2222")
    assert sorted(os.listdir(tmp_path)) == ["imgrad-pipeline-aaaa1111.yaml", PIPELINE_RECORD_NAME]
    old = _load(tmp_path / "imgrad-pipeline-aaaa1111.yaml")
    new = _load(tmp_path / PIPELINE_RECORD_NAME)
    assert old["steps"] == ["sobel"] and new["steps"] == ["scharr"]
