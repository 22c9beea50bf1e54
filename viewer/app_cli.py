"""``radlens view``: the desktop viewer.

The Qt viewer (issue #5) is not built yet. Until it is, this command says so and lists the
headless commands that work today, so ``make run`` never fails with a traceback.
"""

from __future__ import annotations

import argparse
import sys

STATUS = """\
RadLens - research use, not for diagnostic use.

The desktop viewer is not built yet (it is planned work: issue #5), and neither are the bundled
default model and demo study (issue #4). What works today, headless:

  radlens explain IMAGE... --model BUNDLE [--method gradcam] [--annotations train.csv] --out DIR
  radlens explain --list-methods
  radlens layers --model BUNDLE
  radlens info PATH            (DICOM / PNG / JPEG / TIFF / NIfTI file, or a folder)

See README.md for the model bundle format and examples.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="file or folder to open")
    parser.add_argument("--screenshot", help="save a screenshot of the window and exit")


def run(args: argparse.Namespace) -> int:
    print(STATUS, file=sys.stderr)
    return 0 if args.screenshot is None else 2
