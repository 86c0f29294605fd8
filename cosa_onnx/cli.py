"""The ``cosa-onnx`` command line. Only this module (and cosa_onnx.commands) prints.

Exit codes: 0 success, 2 bad input (file, spec, option) or interrupted (Ctrl-C), 1 internal error.
Each subcommand lives in ``cosa_onnx/commands/<name>.py`` and exposes
``register(subparsers) -> None`` which adds its parser and sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from cosa_onnx import __version__
from cosa_onnx.errors import CosaError

logger = logging.getLogger(__name__)

# Subcommand modules, in the order `--help` lists them. A missing module is skipped.
COMMAND_MODULES = ("compile", "layers", "archs", "show", "report", "export_timeloop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosa-onnx",
        description="Schedule every Conv/Gemm/MatMul of an ONNX model onto a spatial accelerator "
                    "with the CoSA mixed-integer program, and report cycles and energy.",
    )
    parser.add_argument("--version", action="version", version=f"cosa-onnx {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cosa_onnx.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cosa_onnx.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def _log_unraisable(info: sys.UnraisableHookArgs) -> None:
    logger.debug("ignored after interrupt: %s: %s", info.exc_type.__name__, info.exc_value)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args_list)
    # `--debug` is accepted before or after the subcommand.
    args_list = [a for a in args_list if a != "--debug"]
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.debug = debug
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except CosaError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `cosa-onnx layers m.onnx | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        # Objects half-built when Ctrl-C landed (e.g. python-mip's SolverCbc) can fail in __del__
        # later; keep those "Exception ignored" tracebacks out of the one-line message.
        sys.unraisablehook = _log_unraisable
        print("error: interrupted (Ctrl-C); nothing was written", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal error: one line, the traceback only with --debug
        if debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback "
              "and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
