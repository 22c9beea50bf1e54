"""``radlens phantom``: generate phantom chest radiographs with exact ground truth."""

from __future__ import annotations

import argparse
import sys

from training.phantom.config import CLASSES, NO_FINDING, PhantomConfig
from training.phantom.dataset import generate_dataset
from training.phantom.gaze import GazeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``radlens phantom`` to ``parser``."""
    parser.add_argument("--n", type=int, default=500, help="number of images (default 500)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (default 1)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (512)")
    parser.add_argument("--format", choices=("dicom", "png"), default="dicom",
                        help="image format: DICOM DX (default) or 16-bit PNG of 12-bit values")
    parser.add_argument("--shortcut", choices=CLASSES, default=None, metavar="CLASS",
                        help="plant a shortcut token when this class is present; one of: "
                        + ", ".join(CLASSES))
    parser.add_argument("--shortcut-p", type=float, default=0.9,
                        help="probability of the token when the class is present (0.9)")
    parser.add_argument("--gaze", action="store_true",
                        help="also write simulated radiologist gaze beside each image: images/<id>.gaze.npz "
                        "(fixations along a reading path and on the findings, plus their density; docs/gaze.md)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and print a per-class summary; returns the exit code."""
    config = PhantomConfig(size=args.size, shortcut_class=args.shortcut, p_shortcut=args.shortcut_p)
    step = max(1, args.n // 20)

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % step == 0 or done == total):
            print(f"\rphantom: {done}/{total} images", end="", file=sys.stderr, flush=True)

    summary = generate_dataset(args.out, args.n, args.seed, config, fmt=args.format,
                               workers=args.workers, progress=progress,
                               gaze=GazeConfig() if args.gaze else None)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"wrote {summary.n} {args.format} images ({args.size}x{args.size}) to {summary.out_dir} "
          f"in {summary.seconds:.1f} s (seed {args.seed})")
    width = max(len(c) for c in (*CLASSES, NO_FINDING))
    for name, count in summary.class_counts.items():
        print(f"  {name:<{width}}  {count:5d}  ({100.0 * count / summary.n:4.1f} %)")
    print(f"  {NO_FINDING:<{width}}  {summary.normals:5d}  ({100.0 * summary.normals / summary.n:4.1f} %)")
    if args.shortcut:
        print(f"  shortcut token ({args.shortcut}): {summary.shortcuts} images")
    print("  files: train.csv (VinBigData), truth.json (exact boxes and masks), targets.csv (cardiothoracic "
          "ratio), images/")
    if args.gaze:
        print("  gaze: images/<id>.gaze.npz (simulated fixations and density; see docs/gaze.md)")
    return 0
