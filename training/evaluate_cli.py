"""``radlens evaluate``: AUC/F1 at the bundle's thresholds and research-style localisation tables."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.datasets import TrainDataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``radlens evaluate`` to ``parser``."""
    parser.add_argument("--model", default="default", help="model bundle folder; default: the bundled model")
    parser.add_argument("--data", required=True, metavar="DIR", help="data set folder (images + annotation CSV)")
    parser.add_argument("--methods", default="gradcam",
                        help="comma-separated explanation methods (gradcam); METHOD@LAYER explains at LAYER "
                        "instead of the model's default layer, e.g. gradcam,gradcam@layer4")
    parser.add_argument("--out", default=None, metavar="DIR", help="write evaluation.json and CSVs here")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N images")
    parser.add_argument("--format", default="auto", choices=("auto", "phantom", "vinbigdata", "nih", "siim"),
                        help="data set format (auto: from the annotation file name)")
    parser.add_argument("--split-file", default=None, metavar="JSON",
                        help="a training split.json: evaluate only its --subset images")
    parser.add_argument("--subset", default="test", choices=("train", "val", "test"), help="split of --split-file")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, and write the files; returns the exit code."""
    from training.evaluate import evaluate_bundle, format_tables, write_evaluation

    ids = None
    if args.split_file:
        try:
            ids = json.loads(Path(args.split_file).read_text(encoding="utf-8"))[args.subset]
        except (OSError, ValueError, KeyError) as exc:
            raise TrainDataError(f"cannot read split '{args.subset}' ({exc}).", path=args.split_file,
                                 fix="pass the split.json written by radlens train.") from exc
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\revaluate: {done}/{total} images", end="", file=sys.stderr, flush=True)

    result = evaluate_bundle(args.model, args.data, methods=methods, fmt=args.format, ids=ids,
                             limit=args.limit, device=args.device, progress=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(format_tables(result))
    if args.out:
        for path in write_evaluation(result, args.out):
            print(f"wrote {path}")
    return 0
