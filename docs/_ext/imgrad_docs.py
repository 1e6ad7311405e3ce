"""Reference pages generated from the code, so they cannot drift from it.

``.. imgrad-cli::``
    Every ``imgrad`` command with its usage line and options, read from the real
    argument parser, :func:`imgrad.cli.build_parser` (each command's parser is
    built as when that command runs, so the shortcuts show their step flags).

``.. imgrad-cli-commands::``
    A table of the commands, linking into the reference.

``.. imgrad-steps::``
    Every pipeline step with its parameters, defaults and allowed values, from
    :func:`imgrad.available_ops` (what ``imgrad ops`` prints).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_INLINE_MARKUP = re.compile(r"([\\*`|_])")
#: The gallery's order: from one operator to a whole folder.
GALLERY_ORDER = (
    "plot_sobel.py",
    "plot_magnitude_phase.py",
    "plot_morphology.py",
    "plot_pipelines.py",
    "plot_batch.py",
)
USAGE_WIDTH = 88


def _text(value: str) -> str:
    """Plain text as reStructuredText: inline markup escaped, addresses not made links."""
    return _INLINE_MARKUP.sub(r"\\\1", value).replace("://", "\\://")


def _literal(value: str) -> str:
    return f"``{value}``" if value else ""


class _Generated(SphinxDirective):
    """A directive whose body is reStructuredText produced by :meth:`lines`."""

    has_content = False

    def lines(self) -> Iterator[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        source = self.get_source_info()[0]
        content = StringList()
        for line in self.lines():
            content.append(line, source)
        # Parsed into a throw-away section so the titles become real sections of the page.
        holder = nodes.section()
        nested_parse_with_titles(self.state, content, holder)
        return list(holder.children)


# --- the command line ----------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _command_parsers() -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    from imgrad.cli import build_parser

    top = _subparsers(build_parser())
    helps = {action.dest: action.help for action in top._choices_actions}
    for name in top.choices:
        parser = _subparsers(build_parser(name)).choices[name]
        yield name, helps.get(name) or "", parser


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper()
    )
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def _help(action: argparse.Action) -> str:
    text = (action.help or "").replace("%%", "%")
    if "%(" in text:
        text = text % {**vars(action), "prog": ""}
    if action.choices and action.option_strings and action.metavar:
        text += f" (one of {', '.join(map(str, action.choices))})"
    return text


def _option_lines(parser: argparse.ArgumentParser) -> Iterator[str]:
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help is not argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        ]
        if not actions:
            continue
        title = {"positional arguments": "arguments", "options": "options"}.get(
            group.title or "", group.title
        )
        yield f".. rubric:: {_text(title.capitalize())}"
        yield ""
        for action in actions:
            yield _literal(_invocation(action))
            yield f"   {_text(_help(action)) or '(no description)'}"
        yield ""


class CommandLineReference(_Generated):
    """``.. imgrad-cli::``: one section per command, from the real parser."""

    def lines(self) -> Iterator[str]:
        from imgrad.cli import build_parser

        top = build_parser()
        yield ".. code-block:: text"
        yield ""
        for line in _usage(top).splitlines():
            yield f"   {line}"
        yield ""
        yield from _option_lines(top)
        for name, summary, parser in _command_parsers():
            title = f"imgrad {name}"
            yield f".. _cli-{name}:"
            yield ""
            yield title
            yield "~" * len(title)
            yield ""
            yield _text(summary[:1].upper() + summary[1:] + ".")
            yield ""
            yield ".. code-block:: text"
            yield ""
            for line in _usage(parser).splitlines():
                yield f"   {line}"
            yield ""
            yield from _option_lines(parser)


class CommandSummary(_Generated):
    """``.. imgrad-cli-commands::``: a table of the commands and what each does."""

    def lines(self) -> Iterator[str]:
        yield ".. list-table::"
        yield "   :header-rows: 1"
        yield "   :widths: 25 75"
        yield ""
        yield "   * - command"
        yield "     - what it does"
        for name, summary, _parser in _command_parsers():
            yield f"   * - :ref:`imgrad {name} <cli-{name}>`"
            yield f"     - {_text(summary)}"
        yield ""


# --- the pipeline steps --------------------------------------------------------------


def _plain(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(_plain, value))
    return str(value)


class StepReference(_Generated):
    """``.. imgrad-steps::``: one table per step, from :func:`imgrad.available_ops`."""

    def lines(self) -> Iterator[str]:
        import imgrad

        for op in imgrad.available_ops():
            name = op["name"]
            yield f".. _step-{name}:"
            yield ""
            yield f".. rubric:: ``{name}``"
            yield ""
            yield _text(op["summary"][:1].upper() + op["summary"][1:] + ".")
            yield ""
            if not op["params"]:
                continue
            yield ".. list-table::"
            yield "   :header-rows: 1"
            yield "   :widths: 14 14 30 42"
            yield ""
            yield "   * - parameter"
            yield "     - default"
            yield "     - allowed"
            yield "     - meaning"
            for param in op["params"]:
                yield f"   * - ``{param['name']}``"
                yield f"     - ``{_plain(param['default'])}``"
                yield f"     - {_text(param['allowed'])}"
                yield f"     - {_text(param['doc'])}"
            yield ""


class GalleryOrder:
    """sphinx-gallery's ``within_subsection_order``: the examples in GALLERY_ORDER."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = filename.rsplit("/", 1)[-1]
        rank = GALLERY_ORDER.index(name) if name in GALLERY_ORDER else len(GALLERY_ORDER)
        return rank, name


def setup(app):
    app.add_directive("imgrad-cli", CommandLineReference)
    app.add_directive("imgrad-cli-commands", CommandSummary)
    app.add_directive("imgrad-steps", StepReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
