"""``radlens view [PATH]`` (and ``radlens`` with no arguments): the desktop viewer.

Qt is imported only inside :func:`run`, so ``radlens --help`` and the headless subcommands work
without a display.
"""

from __future__ import annotations

import argparse
import re


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
    if args.screenshot:
        from viewer.screenshot import take_screenshot

        return take_screenshot(args.path, args.screenshot, args.size, args.timeout)
    from viewer.app import run as run_app

    return run_app(args.path)
