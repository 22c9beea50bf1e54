"""``radlens view [PATH]`` (and ``radlens`` with no arguments): the desktop viewer.

Qt is imported only inside :func:`run`, so ``radlens --help`` and the headless subcommands work
without a display. Before Qt is imported, :func:`viewer.startup.check_display` checks that Qt can
start here; when it cannot (no display, missing xcb libraries) the user is told why and which
packages to install, and the exit code is 3 (no Qt abort). ``--screenshot`` without a display uses
Qt's offscreen platform. A crash writes a log (:func:`viewer.startup.report_crash`), exit code 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    """``"1600x1000"`` -> ``(1600, 1000)``."""
    m = re.fullmatch(r"\s*(\d{3,5})\s*[xX×]\s*(\d{3,5})\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1600x1000")
    return int(m.group(1)), int(m.group(2))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="file or folder to open (default: what was open last, else the demo)")
    parser.add_argument("--screenshot", metavar="FILE",
                        help="open PATH, run the default explanation, save a PNG of the whole window and exit")
    parser.add_argument("--size", type=parse_size, default=(1600, 1000), help="window size for --screenshot (WxH)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds --screenshot waits for the explanation (default 180)")


def run(args: argparse.Namespace) -> int:
    from engine.errors import RadLensError
    from viewer.startup import EXIT_NO_DISPLAY, check_display, report_crash

    env = os.environ
    if args.screenshot and not env.get("QT_QPA_PLATFORM") and not env.get("DISPLAY") \
            and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
    probe = check_display(env)
    if not probe.ok:
        print(probe.message(), file=sys.stderr)
        return EXIT_NO_DISPLAY
    try:
        if args.screenshot:
            from viewer.screenshot import take_screenshot

            return take_screenshot(args.path, args.screenshot, args.size, args.timeout)
        from viewer.app import run as run_app

        return run_app(args.path)
    except RadLensError:
        raise  # the CLI prints it with its fix
    except Exception as exc:
        report_crash(type(exc), exc, exc.__traceback__, show_box=crash_box)
        return 1


def crash_box(path: Path, summary: str) -> None:
    """Tell the user where the crash log is, in a message box, when Qt is up and on a screen."""
    from PySide6 import QtWidgets

    if QtWidgets.QApplication.instance() is None or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"):
        return
    QtWidgets.QMessageBox.critical(None, "RadLens crashed",
                                   f"RadLens hit an error it did not expect:\n{summary}\n\n"
                                   f"The log with the details is at\n{path}\n\n"
                                   "Please attach it when you report the problem.")
