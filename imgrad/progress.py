"""What a batch run shows while it works, and its summary.

Three ways to follow :func:`imgrad.batch.run`, chosen by :func:`for_terminal`:

- :class:`BarProgress`: a progress bar (files done / total, rate, ETA) on an
  interactive terminal; failures are printed above it as they happen.
- :class:`LogProgress`: plain lines for logs and pipes: one per failure and
  a status line every few seconds.
- :class:`ListProgress`: the dry-run listing, one line per input, on stdout.

:func:`summary` is the text printed at the end.

Examples
--------
>>> import io
>>> from imgrad.batch import Report
>>> print(summary(Report(out="grads", manifest="grads/imgrad-manifest.jsonl", ok=3,
...                      seconds=1.5)))
imgrad: 3 ok, 0 skipped, 0 failed in 1.5 s (2.0 images/s)
outputs: grads (manifest: grads/imgrad-manifest.jsonl)
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from imgrad.batch import Report
    from imgrad.manifest import Entry

__all__ = ["BarProgress", "ListProgress", "LogProgress", "for_terminal", "summary"]

#: Failures listed in the summary before "and N more".
SUMMARY_FAILURES = 10


class BarProgress:
    """A tqdm progress bar on `stream` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._bar = None
        self._failed = 0

    def start(self, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            unit="img",
            file=self.stream,
            dynamic_ncols=True,
            smoothing=0.1,
            desc="imgrad",
        )

    def advance(self, entry: Entry) -> None:
        if entry.status == "failed":
            self._failed += 1
            self._bar.write(f"imgrad: failed {entry.input}: {entry.error}", file=self.stream)
            self._bar.set_postfix(failed=self._failed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class LogProgress:
    """Plain lines: each failure at once, and where the run is every `interval` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._total: int | None = None
        self._counts = {"ok": 0, "skipped": 0, "failed": 0}
        self._started = self._last = time.monotonic()

    def start(self, total: int | None) -> None:
        self._total = total
        self._started = self._last = time.monotonic()
        if total is not None:
            self._print(f"imgrad: {total} input{'s' if total != 1 else ''}")

    def advance(self, entry: Entry) -> None:
        if entry.status in self._counts:
            self._counts[entry.status] += 1
        if entry.status == "failed":
            self._print(f"imgrad: failed {entry.input}: {entry.error}")
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._print(self._status(now))

    def close(self) -> None:
        """Nothing: the summary follows."""

    def _status(self, now: float) -> str:
        done = sum(self._counts.values())
        c = self._counts
        elapsed = now - self._started
        rate = (c["ok"] + c["failed"]) / elapsed if elapsed > 0 else 0.0
        of = f"/{self._total}" if self._total is not None else ""
        text = (
            f"imgrad: {done}{of} done ({c['ok']} ok, {c['skipped']} skipped, "
            f"{c['failed']} failed), {rate:.1f} images/s"
        )
        if self._total is not None and rate > 0:
            text += f", about {_duration((self._total - done) / rate)} left"
        return text

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


class ListProgress:
    """Dry run: one line per input on `stream` (stdout by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def start(self, total: int | None) -> None:
        """Nothing before the listing."""

    def advance(self, entry: Entry) -> None:
        if entry.status == "planned":
            line = f"process {entry.input} -> {', '.join(entry.outputs)}"
        elif entry.status == "skipped":
            line = f"skip    {entry.input} (done: {', '.join(entry.outputs)})"
        else:
            line = f"fail    {entry.input}: {entry.error}"
        print(line, file=self.stream)

    def close(self) -> None:
        self.stream.flush()


def for_terminal(stream: TextIO | None = None, *, quiet: bool = False):
    """A bar on a terminal, log lines otherwise; None if `quiet`."""
    stream = stream or sys.stderr
    if quiet:
        return None
    isatty = getattr(stream, "isatty", None)
    return BarProgress(stream) if isatty is not None and isatty() else LogProgress(stream)


def summary(report: Report, *, failures: int = SUMMARY_FAILURES, quiet: bool = False) -> str:
    """The end-of-run text: counts, rate, the first failures and where the outputs are.

    With `quiet`, only the failures (empty text when there are none).
    """
    lines = []
    if not quiet:
        if report.dry_run:
            lines.append(
                f"imgrad: dry run: {report.planned} to process, {report.skipped} "
                f"already done, {report.failed} failing; nothing was written"
            )
        else:
            line = (
                f"imgrad: {report.ok} ok, {report.skipped} skipped, {report.failed} failed "
                f"in {_seconds(report.seconds)}"
            )
            if report.ok + report.failed:
                line += f" ({report.images_per_second:.1f} images/s)"
            lines.append(line)
    if report.failed:
        lines.append(f"failed ({report.failed}):")
        shown = report.failures[:failures]
        lines += [f"  {path}: {reason}" for path, reason in shown]
        if report.failed > len(shown):
            where = "see the listing" if report.dry_run else f"see {report.manifest}"
            lines.append(f"  and {report.failed - len(shown)} more: {where}")
    if report.interrupted:
        lines.append("imgrad: interrupted; run the same command again to finish")
    if not quiet and not report.dry_run and report.ok + report.skipped:
        lines.append(f"outputs: {report.out} (manifest: {report.manifest})")
    return "\n".join(lines)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else _duration(seconds)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
