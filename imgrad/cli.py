"""The ``imgrad`` command line.

One :func:`main` turns arguments into a call of the library and exceptions
into one-line messages and exit codes:

====  =========================================================================
code  meaning
====  =========================================================================
0     every input ok or skipped
1     some inputs failed (the others are done), or an unexpected error
2     usage or pipeline error: bad option, unknown step, missing input path
130   interrupted (Ctrl-C) after finishing the images in flight
====  =========================================================================

Status goes to stderr, data (``ops``, ``info``, dry-run listings) to stdout.
``imgrad --help`` and ``--version`` import neither NumPy nor OpenCV: heavy
modules load inside the command that needs them, and the step flags of the
shortcut commands are built only for the command being run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imgrad._version import __version__

__all__ = ["UsageError", "main"]

PROG = "imgrad"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Shortcuts running one step: ``imgrad sobel IN -o OUT --ksize 5``.
ONE_STEP = ("sobel", "scharr", "prewitt", "morph")
#: Shortcuts running a derivative step, then this step: ``imgrad polar IN -o OUT --degrees``.
FROM_GRADIENT = ("magnitude", "phase", "polar")
#: What ``imgrad run IN -o OUT`` runs without -p or -c: gradient magnitude and direction.
DEFAULT_PIPELINE = "gray | sobel | polar"


class UsageError(Exception):
    """A bad command line; reported in one line with exit code 2.

    `prog` is the command the message is about (``imgrad run``).
    """

    def __init__(self, message: str, prog: str = PROG) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')", self.prog)


# --- entry point -------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples
    --------
    >>> main(["--version"])
    imgrad 0.1.0
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return _dispatch(argv)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `imgrad ops | head`: stop quietly
        _silence_stdout()
        return EXIT_FAILED
    except Exception as exc:
        code, message = _classify(exc)
        _report_error(exc, getattr(exc, "prog", PROG), message, debug)
        return code


def _dispatch(argv: list[str]) -> int:
    command = _command_in(argv)
    parser = build_parser(command)
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the sub-command's parser, which names itself
        prog = f"{PROG} {args.command}" if hasattr(args, "command") else PROG
        raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see '{prog} --help')", prog)
    return args.func(args)


def _classify(exc: Exception) -> tuple[int, str]:
    from imgrad.errors import PipelineError
    from imgrad.manifest import ManifestLockedError

    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, PipelineError):
        return EXIT_USAGE, f"pipeline error: {exc}"
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return EXIT_USAGE, f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, ManifestLockedError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, ValueError):  # options refused by the library before any work
        return EXIT_USAGE, str(exc)
    return EXIT_FAILED, f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _report_error(exc: BaseException, prog: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prog}: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured)
        pass
    finally:
        os.close(devnull)


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command named in `argv` (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


# --- the parser ----------------------------------------------------------------------

_COMMAND_HELP = {
    "run": "run a pipeline over files, folders and glob patterns",
    "sobel": "Sobel derivatives gx, gy (one-step pipeline)",
    "scharr": "Scharr derivatives gx, gy (one-step pipeline)",
    "prewitt": "Prewitt derivatives gx, gy (one-step pipeline)",
    "morph": "morphological gradient: basic, internal or external (one-step pipeline)",
    "magnitude": "gradient magnitude (a derivative step, then magnitude)",
    "phase": "gradient direction (a derivative step, then phase)",
    "polar": "magnitude and direction (a derivative step, then polar)",
    "ops": "list the pipeline steps with their parameters, defaults and allowed values",
    "info": "print size, channels and dtype of image files",
    "preview": "save a labelled montage of an image and its gradient planes",
}

_EPILOG = """\
examples:
  imgrad run photos/ -o grads/          (magnitude and phase: "gray | sobel | polar")
  imgrad run photos/ -o grads/ -p "gray | gaussian sigma=1 | sobel | polar degrees=true"
  imgrad run data/ -o grads/ --config pipeline.yaml --workers 4
  imgrad sobel photos/ -o grads/ --ksize 5 --format tif
  imgrad morph photos/ -o grads/ --kind internal --footprint ellipse --size 5
  imgrad run data/ -o grads/ -p "gray | sobel | magnitude" --scheduler tcp://head:8786
  imgrad run big.tif -o grads/ -p "gray | sobel | magnitude" --tile 4096 --format zarr
  imgrad preview photo.jpg -o preview.png -p "gray | sobel | polar"
  imgrad ops

exit codes: 0 all inputs ok or skipped, 1 some inputs failed, 2 usage or pipeline error,
130 interrupted. 'imgrad COMMAND --help' shows a command's options.
"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; step flags are added only for `command`'s sub-parser."""
    parser = _Parser(
        prog=PROG,
        description="Image gradients for files, folders and datasets.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_debug(parser)
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=_Parser
    )
    builders: dict[str, Callable[[argparse.ArgumentParser, bool], None]] = {
        "run": _setup_run,
        **dict.fromkeys(ONE_STEP + FROM_GRADIENT, _setup_shortcut),
        "ops": _setup_ops,
        "info": _setup_info,
        "preview": _setup_preview,
    }
    for name, build in builders.items():
        sub = commands.add_parser(
            name, help=_COMMAND_HELP[name], description=_COMMAND_HELP[name].capitalize() + "."
        )
        sub.set_defaults(command=name)
        build(sub, name == command)
    return parser


def _add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of errors",
    )


def _add_io(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (walked) and glob patterns",
    )
    parser.add_argument(
        "-o", "--out", required=True, metavar="OUT", help="output folder (created if needed)"
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output options")
    group.add_argument(
        "--outputs",
        metavar="PLANES",
        help="planes to write, comma-separated (default: those of the last step)",
    )
    group.add_argument(
        "--format",
        default=None,
        choices=("png", "tif", "npy", "jpg", "zarr"),
        help="output file format (default: png; with --tile: tif, or zarr)",
    )
    group.add_argument(
        "--scale",
        choices=("minmax", "clip", "none"),
        default=None,
        help="how float planes become integers: minmax (default for png/jpg) "
        "maps each image's own min..max to 0..255, so values are not "
        "comparable between images; clip rounds and clips; none keeps "
        "floats (default for tif/npy). For values comparable across a "
        "dataset use tif/npy or end the pipeline with "
        "'scale method=range low=.. high=..'",
    )
    group.add_argument(
        "--depth",
        type=int,
        choices=(8, 16),
        default=8,
        help="bits of scaled float planes, png/tif/npy (default: 8)",
    )
    group = parser.add_argument_group("run options")
    group.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="images processed at once (default: all cores; with --engine dask: "
        "the workers of the local cluster started)",
    )
    group.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: threads of this process (default); dask: the workers of a Dask "
        "cluster, a local one unless --scheduler is given (needs imgrad[dask])",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler, e.g. tcp://host:8786 (implies "
        "--engine dask); every worker must see the inputs and OUT at the same paths",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="redo inputs already done (default: resume, skipping them)",
    )
    group.add_argument(
        "--dry-run", action="store_true", help="list what would be done on stdout; write nothing"
    )
    group.add_argument(
        "--fail-fast", action="store_true", help="stop after the first failed input"
    )
    group.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="do not walk into sub-folders",
    )
    group.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="only files matching this glob (name, or path with '/'); repeatable",
    )
    group.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="skip files and folders matching this glob; repeatable",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress and no summary; failures are still reported",
    )
    _add_debug(group)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _setup_run(parser: argparse.ArgumentParser, selected: bool) -> None:
    _add_io(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "-p",
        "--pipeline",
        metavar="TEXT",
        help=f'pipeline text, e.g. "gray | sobel ksize=5 | polar" (default: "{DEFAULT_PIPELINE}")',
    )
    source.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="pipeline YAML file (an OUT/imgrad-pipeline.yaml works too)",
    )
    _add_run_options(parser)
    parser.add_argument(
        "--tile",
        type=_positive_int,
        metavar="N",
        help="process each input (a big TIFF, .zarr or .npy) in N x N chunks with bounded "
        "memory, writing OUT/<stem>.<plane>.tif (tiled) or .zarr (needs imgrad[dask])",
    )
    parser.set_defaults(func=_cmd_run)


def _setup_shortcut(parser: argparse.ArgumentParser, selected: bool) -> None:
    _add_io(parser)
    name = parser.get_default("command")
    group = parser.add_argument_group(f"{name} step")
    group.add_argument(
        "--gray", action="store_true", help="convert to gray first (prepends the gray step)"
    )
    _add_run_options(parser)
    if selected:  # imports the steps (NumPy, OpenCV): only for the command being run
        _add_step_flags(parser, group, name)
    parser.set_defaults(func=_cmd_shortcut)


def _setup_ops(parser: argparse.ArgumentParser, selected: bool) -> None:
    parser.add_argument("steps", nargs="*", metavar="STEP", help="only these steps")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_debug(parser)
    parser.set_defaults(func=_cmd_ops)


def _setup_preview(parser: argparse.ArgumentParser, selected: bool) -> None:
    parser.add_argument("image", metavar="IMAGE", help="image file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="montage to write (png, jpg, tif)"
    )
    parser.add_argument(
        "-p",
        "--pipeline",
        metavar="TEXT",
        help="show the planes of this pipeline (default: derivatives, magnitude, direction "
        "and morphological gradients)",
    )
    parser.add_argument(
        "--max-side",
        type=_positive_int,
        default=1024,
        metavar="N",
        help="downscale panels whose long side exceeds N pixels (default: 1024)",
    )
    _add_debug(parser)
    parser.set_defaults(func=_cmd_preview)


def _setup_info(parser: argparse.ArgumentParser, selected: bool) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="FILE", help="image files, folders (walked) and glob patterns"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")
    parser.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="do not walk into sub-folders",
    )
    _add_debug(parser)
    parser.set_defaults(func=_cmd_info)


# --- step flags, from the step definitions ---------------------------------------------


def _step_flags(step_class: type) -> list[tuple[Any, str]]:
    """(param, flag dest) for the parameters a shortcut exposes.

    Plane-wiring parameters (the planes a step reads and the name it writes)
    are fixed by the shortcut and not exposed.
    """
    from imgrad._params import PlaneName, PlaneNames

    return [
        (p, f"step_{p.name}")
        for p in step_class.params
        if not isinstance(p, (PlaneName, PlaneNames))
    ]


def _add_step_flags(parser: argparse.ArgumentParser, group, name: str) -> None:
    from imgrad._params import Bool
    from imgrad.ops import STEPS

    taken = {opt for action in parser._actions for opt in action.option_strings}
    taken.add("--method")
    if name in FROM_GRADIENT:
        methods = _derivative_steps()
        group.add_argument(
            "--method",
            default="sobel",
            choices=methods,
            help="derivative step computing gx, gy (default: sobel)",
        )
    step = STEPS[name]
    for param, dest in _step_flags(step):
        flag = f"--{param.name.replace('_', '-')}"
        if flag in taken:
            flag = f"--{name}-{param.name.replace('_', '-')}"
        default = step.defaults[param.name]
        text = f"{param.doc}; {param.allowed} (default: {param.format(default)})"
        if isinstance(param, Bool):
            group.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text.replace("%", "%%"),
            )
        else:
            group.add_argument(
                flag,
                dest=dest,
                metavar=param.name.upper(),
                default=None,
                help=text.replace("%", "%%"),
            )


def _derivative_steps() -> list[str]:
    """Steps that write the gradient planes gx and gy."""
    from imgrad.ops import STEPS

    return [name for name, cls in STEPS.items() if cls().writes(("image",)) == ("gx", "gy")]


# --- commands --------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from imgrad.pipeline import Pipeline

    if args.config is not None:
        pipeline = Pipeline.from_yaml(Path(args.config))
    elif args.pipeline is not None:
        pipeline = Pipeline.parse(args.pipeline)
    else:
        pipeline = Pipeline.parse(DEFAULT_PIPELINE)
        if not args.quiet:
            print(
                f'{PROG}: pipeline "{DEFAULT_PIPELINE}" (the default; -p or -c to choose)',
                file=sys.stderr,
            )
    if args.tile is not None:
        return _run_tiled(args, pipeline)
    return _run_batch(args, pipeline)


def _cmd_shortcut(args: argparse.Namespace) -> int:
    from imgrad.ops import STEPS, make_step
    from imgrad.pipeline import Pipeline

    name = args.command
    values = {}
    for param, dest in _step_flags(STEPS[name]):
        value = getattr(args, dest, None)
        if value is not None:
            values[param.name] = (
                value if isinstance(value, bool) else param.parse(value, f"{PROG} {name}")
            )
    steps = ["gray"] if args.gray else []
    if name in FROM_GRADIENT:
        steps.append(args.method)
    steps.append(make_step(name, **values))
    return _run_batch(args, Pipeline(steps))


def _run_batch(args: argparse.Namespace, pipeline) -> int:
    from imgrad import batch, progress

    engine = "dask" if args.scheduler is not None else args.engine
    if args.format == "zarr":
        raise UsageError(
            "--format zarr needs --tile; formats of a batch run: png, tif, npy, jpg",
            f"{PROG} {args.command}",
        )
    if engine == "dask":
        _import_dask(args)
    if args.dry_run:
        display = progress.ListProgress(sys.stdout)
    else:
        display = progress.for_terminal(sys.stderr, quiet=args.quiet)
    try:
        report = batch.run(
            args.inputs,
            args.out,
            pipeline,
            workers=args.workers,
            format=args.format or "png",
            outputs=args.outputs,
            scale=args.scale,
            depth=args.depth,
            overwrite=args.overwrite,
            dry_run=args.dry_run,
            fail_fast=args.fail_fast,
            recursive=args.recursive,
            include=args.include,
            exclude=args.exclude,
            progress=display,
            engine=engine,
            scheduler=args.scheduler,
        )
    except batch.BatchInterrupted as exc:
        _print_summary(progress.summary(exc.report, quiet=args.quiet))
        return EXIT_INTERRUPTED
    _print_summary(progress.summary(report, quiet=args.quiet))
    if not report.total and not args.quiet:
        from imgrad.io import IMAGE_EXTENSIONS

        print(
            f"{PROG}: no image files found (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})",
            file=sys.stderr,
        )
    return EXIT_FAILED if report.failed else EXIT_OK


def _import_dask(args: argparse.Namespace):
    """imgrad.dask, or a usage error saying how to install it."""
    try:
        import imgrad.dask
    except ImportError as exc:
        raise UsageError(str(exc), f"{PROG} {args.command}") from None
    return imgrad.dask


#: Batch options that have no meaning with --tile.
_NOT_WITH_TILE = ("scale", "dry_run", "overwrite", "fail_fast", "include", "exclude")


def _run_tiled(args: argparse.Namespace, pipeline) -> int:
    """``imgrad run --tile``: each input file chunk by chunk; one failed file does not stop it."""
    prog = f"{PROG} run"
    given = [name for name in _NOT_WITH_TILE if getattr(args, name) not in (None, False)]
    if given or args.depth != 8:
        flag = given[0] if given else "depth"
        raise UsageError(f"--{flag.replace('_', '-')} cannot be used with --tile", prog)
    fmt = args.format or "tif"
    if fmt not in ("tif", "zarr"):
        raise UsageError(f"--tile writes --format tif or zarr; got {fmt!r}", prog)
    if args.outputs is not None:
        pipeline = pipeline.with_outputs(args.outputs.split(","))
    dask_module = _import_dask(args)
    failed = 0
    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler is None and args.engine == "dask":
            scheduler = stack.enter_context(dask_module.client(workers=args.workers))
        for path in args.inputs:
            try:
                written = dask_module.run_tiled(
                    path, args.out, pipeline, tile=args.tile, format=fmt, scheduler=scheduler
                )
            except (OSError, ValueError) as exc:
                failed += 1
                reason = getattr(exc, "reason", None) or str(exc)
                print(f"{prog}: error: {path}: {reason}", file=sys.stderr)
                continue
            if not args.quiet:
                for target in written:
                    print(f"{prog}: wrote {target}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_preview(args: argparse.Namespace) -> int:
    from imgrad import io, visualize
    from imgrad.errors import ImageReadError, ImageWriteError
    from imgrad.pipeline import Pipeline

    prog = f"{PROG} preview"
    pipeline = None if args.pipeline is None else Pipeline.parse(args.pipeline)  # before reading
    try:
        image = io.read(args.image)
    except ImageReadError as exc:
        print(f"{prog}: error: {args.image}: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    montage = visualize.preview(image, pipeline, max_side=args.max_side)
    try:
        io.write(args.output, montage)
    except ImageWriteError as exc:
        print(f"{prog}: error: {args.output}: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _print_summary(text: str) -> None:
    if text:
        print(text, file=sys.stderr, flush=True)


def _cmd_ops(args: argparse.Namespace) -> int:
    import json

    from imgrad.ops import available_ops

    ops = available_ops()
    if args.steps:
        known = {op["name"] for op in ops}
        unknown = [s for s in args.steps if s not in known]
        if unknown:
            raise UsageError(f"unknown step {unknown[0]!r}; steps: {', '.join(sorted(known))}")
        ops = [op for op in ops if op["name"] in args.steps]
    if args.json:
        print(json.dumps(ops, indent=2))
        return EXIT_OK
    for op in ops:
        print(f"{op['name']}: {op['summary']}")
        for p in op["params"]:
            default = _plain_text(p["default"])
            print(f"    {p['name']}={default}  ({p['allowed']})  {p['doc']}")
    return EXIT_OK


def _plain_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _cmd_info(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from imgrad import io
    from imgrad.batch import find_inputs
    from imgrad.errors import ImageReadError

    failed = 0
    for source in find_inputs(args.inputs, recursive=args.recursive, unique_names=False):
        try:
            if source.error is not None:
                raise ImageReadError(source.path, source.error)
            info = io.probe(source.path)
        except ImageReadError as exc:
            failed += 1
            print(f"{PROG}: error: {source.path}: {exc.reason}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({**dataclasses.asdict(info), "path": source.path}))
        else:
            channels = f"{info.channels} channel{'s' if info.channels != 1 else ''}"
            extra = f", orientation {info.orientation}" if info.orientation != 1 else ""
            print(
                f"{source.path}: {info.format.upper()} {info.width}x{info.height}, "
                f"{channels}, {info.dtype}{extra}"
            )
    return EXIT_FAILED if failed else EXIT_OK
