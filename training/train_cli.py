"""``radlens train``: train a classifier from a YAML recipe and export a model bundle.

Several GPUs or machines: run the same command under ``torchrun``, e.g.
``torchrun --nproc-per-node 4 -m viewer.cli train --config configs/phantom-resnet18.yaml``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from training.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``radlens train`` to ``parser``."""
    parser.add_argument("--config", required=True, help="YAML training recipe (see configs/)")
    parser.add_argument("--resume", default=None, metavar="CKPT", help="continue from a checkpoint.pt")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: output.dir of the config)")
    parser.add_argument("--data", default=None, metavar="DIR", help="override data.root of the config")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--limit", type=int, default=None, help="override data.limit (use the first N images)")


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit code (errors are RadLensError, handled by the dispatcher)."""
    import dataclasses

    from training.trainer import run_training

    cfg = load_config(args.config)
    if args.data is not None or args.limit is not None:
        data = cfg.data
        if args.data is not None:
            data = dataclasses.replace(data, root=args.data)
        if args.limit is not None:
            data = dataclasses.replace(data, limit=args.limit)
        cfg = cfg.replace(data=data)
    if args.epochs is not None:
        cfg = cfg.replace(train=dataclasses.replace(cfg.train, epochs=args.epochs))
    parts = ["radlens", "train", "--config", str(Path(args.config))]
    for flag in ("out", "data", "epochs", "limit"):
        value = getattr(args, flag, None)
        if value is not None:
            parts += [f"--{flag}", str(value)]
    result = run_training(cfg, out_dir=args.out, resume=args.resume, command=shlex.join(parts))
    if result.bundle is not None:
        print(f"bundle: {result.bundle}")
    return 0
