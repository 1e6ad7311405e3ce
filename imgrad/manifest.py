"""The records a batch run keeps in its output folder.

``OUT/imgrad-manifest.jsonl`` has one JSON object per input and run, appended
and flushed as each input finishes, so a run killed at any moment leaves a
manifest whose every complete line is true. A line cut short by a kill is
ignored when read back.

``OUT/imgrad-pipeline.yaml`` says how the outputs were made: the pipeline, the
output options and the conventions. Its hash, :func:`settings_hash`, is stored
in every manifest line; resuming skips an input only when its last line has
the current hash.

Examples
--------
>>> import tempfile, os
>>> out = tempfile.mkdtemp()
>>> entry = Entry("a/cat.png", "ok", outputs=("a/cat.magnitude.png",), pipeline="0f3e")
>>> with ManifestWriter(os.path.join(out, MANIFEST_NAME)) as manifest:
...     manifest.append(entry)
>>> completed_inputs(os.path.join(out, MANIFEST_NAME), "0f3e")
{'a/cat.png'}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from imgrad._version import __version__

__all__ = [
    "MANIFEST_NAME",
    "PIPELINE_RECORD_NAME",
    "RECORD_PREFIX",
    "STATUSES",
    "Entry",
    "ManifestLockedError",
    "ManifestWriter",
    "completed_inputs",
    "read_entries",
    "settings_hash",
    "write_pipeline_record",
]

#: Every file imgrad keeps at the root of an output folder starts with this.
RECORD_PREFIX = "imgrad-"
MANIFEST_NAME = "imgrad-manifest.jsonl"
PIPELINE_RECORD_NAME = "imgrad-pipeline.yaml"
#: Statuses written to the manifest ("planned" only appears in dry runs, never on disk).
STATUSES = ("ok", "failed", "skipped")
_DONE = ("ok", "skipped")


@dataclass(frozen=True)
class Entry:
    """What happened to one input in one run: one manifest line.

    Attributes
    ----------
    input : str
        The input path as found (the folder given on the command line joined
        with the file's path inside it).
    status : {"ok", "failed", "skipped", "planned"}
    outputs : tuple of str
        Output files, relative to the output folder, with "/" separators.
    error : str or None
        One line saying why the input failed.
    shape : tuple of int or None
        Shape of the decoded image (None when it was not read).
    dtype : str or None
        Its dtype.
    seconds : float
        Time spent on the input (read, compute, write).
    pipeline : str
        :func:`settings_hash` of the pipeline and output options.
    imgrad : str
        imgrad version that wrote the line.
    """

    input: str
    status: str
    outputs: tuple[str, ...] = ()
    error: str | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    seconds: float = 0.0
    pipeline: str = ""
    imgrad: str = __version__

    def to_json(self) -> str:
        """The manifest line (without its newline); ASCII, so any path survives."""
        record = {
            "input": self.input,
            "status": self.status,
            "outputs": list(self.outputs),
            "error": self.error,
            "shape": None if self.shape is None else list(self.shape),
            "dtype": self.dtype,
            "seconds": round(self.seconds, 6),
            "pipeline": self.pipeline,
            "imgrad": self.imgrad,
        }
        return json.dumps(record, ensure_ascii=True, separators=(", ", ": "))


def settings_hash(settings: Mapping[str, Any]) -> str:
    """Short stable hash of plain data (the pipeline and output options).

    Examples
    --------
    >>> settings_hash({"pipeline": "sobel", "format": "png"})
    '0c4c69c7736e315d'
    >>> settings_hash({"format": "png", "pipeline": "sobel"}) == settings_hash(
    ...     {"pipeline": "sobel", "format": "png"})
    True
    """
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


class ManifestLockedError(OSError):
    """Another run is writing to the same output folder."""


class ManifestWriter:
    """Appends entries to a manifest, one flushed line each.

    The file is locked for the writer's lifetime where the platform allows
    (POSIX ``flock``), so two runs cannot interleave in one output folder; the
    lock dies with the process, even on SIGKILL.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file: TextIO = open(self.path, "a+", encoding="utf-8", newline="\n")
        try:
            _lock(self._file, self.path)
            self._end_partial_line()
        except BaseException:
            self._file.close()
            raise

    def _end_partial_line(self) -> None:
        # A run killed in the middle of a line leaves it unterminated: close it
        # so the next entry starts on its own line (the broken one is ignored).
        size = self._file.seek(0, os.SEEK_END)
        if size:
            with open(self.path, "rb") as raw:
                raw.seek(size - 1)
                if raw.read(1) != b"\n":
                    self._file.write("\n")
                    self._file.flush()

    def append(self, entry: Entry) -> None:
        """Write one line and flush it to the operating system."""
        self._file.write(entry.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(file: TextIO, path: str) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ManifestLockedError(
            f"{path} is locked: another imgrad run is writing to this output folder"
        ) from None


def read_entries(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The manifest's records in file order; lines that are not whole JSON objects are skipped.

    A missing manifest has no records.
    """
    try:
        file = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("input"), str):
                yield record


def completed_inputs(path: str | os.PathLike[str], pipeline_hash: str) -> set[str]:
    """Inputs whose latest manifest record is ok or skipped with this pipeline hash.

    Only these input paths are kept in memory (not the records), about a
    hundred bytes per input.
    """
    done: set[str] = set()
    for record in read_entries(path):
        if record.get("status") in _DONE and record.get("pipeline") == pipeline_hash:
            done.add(record["input"])
        else:
            done.discard(record["input"])
    return done


def write_pipeline_record(
    out: str | os.PathLike[str], record: Mapping[str, Any], pipeline_hash: str
) -> str:
    """Write ``OUT/imgrad-pipeline.yaml`` atomically and return its path.

    The hash is stored as ``imgrad: {pipeline_hash: ...}``. When the file
    already describes another pipeline, it is first renamed
    ``imgrad-pipeline-<its hash>.yaml``, so every hash in the manifest keeps
    its description.
    """
    import yaml

    out = os.fspath(out)
    path = os.path.join(out, PIPELINE_RECORD_NAME)
    previous = _recorded_hash(path)
    if previous and previous != pipeline_hash:
        stem, ext = os.path.splitext(PIPELINE_RECORD_NAME)
        os.replace(path, os.path.join(out, f"{stem}-{previous}{ext}"))
    data = dict(record)
    data["imgrad"] = {**dict(data.get("imgrad") or {}), "pipeline_hash": pipeline_hash}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=99)
    _write_text_atomic(path, text)
    return path


def _recorded_hash(path: str) -> str | None:
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except (OSError, yaml.YAMLError):
        return None
    info = data.get("imgrad") if isinstance(data, dict) else None
    value = info.get("pipeline_hash") if isinstance(info, dict) else None
    return value if isinstance(value, str) and value.isalnum() else None


def _write_text_atomic(path: str, text: str) -> None:
    from imgrad.io import TEMP_MARKER

    folder, base = os.path.split(path)
    temp = os.path.join(folder, f".{base}{TEMP_MARKER}{secrets.token_hex(6)}")
    try:
        with open(temp, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
