"""``radlens view`` (and ``radlens`` with no arguments): the desktop viewer.

The Qt viewer (issue #5) is not built yet. Until it is, this command says so and runs what exists
on the bundled default model and the demo study, headless: it explains every demo image with
Grad-CAM and writes the overlays and ``results.json`` to ``out/demo`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STATUS = """\
RadLens - research use, not for diagnostic use.

The desktop viewer is not built yet (planned: issue #5). Running the headless engine instead on
the bundled default model and the demo study:
  radlens explain resources/demo/images/*.dcm --annotations resources/demo/train.csv --out {out}
Other commands: radlens explain --list-methods | layers | info PATH | phantom | train | evaluate
"""

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="file or folder to open (default: the demo study)")
    parser.add_argument("--screenshot", help="save a screenshot of the window and exit (needs the viewer)")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="where the headless run writes")


def run(args: argparse.Namespace) -> int:
    if args.screenshot is not None:
        print("radlens view --screenshot needs the desktop viewer, which is not built yet.", file=sys.stderr)
        return 2
    print(STATUS.format(out=args.out), file=sys.stderr)
    if args.path:
        target = Path(args.path)
        images = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        annotations = []
    else:
        images = sorted((DEMO / "images").glob("*.dcm"))
        annotations = ["--annotations", str(DEMO / "train.csv")]
    from viewer.cli import main

    code = main(["explain", *map(str, images), *annotations, "--out", str(args.out)])
    if code == 0:
        print(f"overlays and results.json are in {args.out}/", file=sys.stderr)
    return code
