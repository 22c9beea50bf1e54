"""The ``radlens`` command: a thin dispatcher.

Headless subcommands live in ``engine`` and ``training`` and are imported only when used, so
``radlens explain`` works on a machine without a display. ``radlens`` with no subcommand (or
``radlens view``) starts the desktop app. This module imports no Qt at module level.

A subcommand module provides ``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: name -> (module path, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "explain": ("engine.cli.explain", "explain a model's decision on images (headless)"),
    "layers": ("engine.cli.layers", "list the layers of a model that CAM methods can use"),
    "bundle": ("engine.cli.bundle", "build a model bundle from a checkpoint (create) or check one (check)"),
    "info": ("engine.cli.info", "print what RadLens sees in an image file"),
    "perturb": ("engine.cli.perturb", "replace the pixels an explanation points at: deletion/insertion curves, Δp"),
    "report": ("engine.cli.report", "write a PDF explanation report"),
    "phantom": ("training.phantom_cli", "generate phantom chest radiographs with ground truth"),
    "train": ("training.train_cli", "train a classifier from a YAML config and export a model bundle"),
    "evaluate": ("training.evaluate_cli", "evaluate a model bundle: AUC/F1 and localisation tables"),
    "study": ("training.study.cli", "run a data-set study (protocol) on Ray, resumable; presets; report"),
    "pacs": ("engine.cli.pacs", "PACS: test a connection, find, retrieve (WADO-RS, C-GET, C-MOVE), send via an outbox"),
    "view": ("viewer.app_cli", "open the desktop viewer"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; import only the subcommand ``only`` (all when None)."""
    parser = argparse.ArgumentParser(
        prog="radlens",
        description="RadLens: a radiology viewer with a lab for explaining image classifiers. "
        "Research use - not for diagnostic use.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:  # a part not installed or not built yet
                sp.set_defaults(_unavailable=f"radlens {name} is unavailable: {exc}")
                continue
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``radlens`` console script."""
    own_process = argv is None  # the console script or `python -m viewer.cli`: the process is the command's
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["view", *argv]
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    from engine.errors import RadLensError

    try:
        code = int(args._run(args) or 0)
    except RadLensError as exc:
        print(f"radlens {args.command}: error: {exc}", file=sys.stderr)
        code = 1
    if own_process and getattr(args, "_exit_at_once", False):
        _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> None:
    """End the process without the interpreter's teardown, for a subcommand that asks for it
    (``parser.set_defaults(_exit_at_once=True)``: its files are written and closed when ``run``
    returns). Tearing down torch, torchvision and pydicom's modules took longer than the rest of
    ``radlens explain`` after its last overlay (issue #19). Output streams and logging are flushed first."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
