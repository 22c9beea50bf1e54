"""Helpers shared by the headless subcommands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default",
        help="model bundle folder (or its model.json); 'default' (the default) is the bundled model",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")


def add_map_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of commands that explain an image and cut boxes from its maps (explain, report)."""
    parser.add_argument("--layer", action="append", help="target layer (repeat for several); default: the model's")
    parser.add_argument("--threshold", default="top:0.05", help="top:F, max:F or otsu (default top:0.05)")
    parser.add_argument("--box-mode", default="all", choices=("all", "largest", "union"))
    parser.add_argument("--min-area", type=int, default=0, help="drop components smaller than this (pixels)")
    parser.add_argument("--annotations", type=Path, help="ground truth (VinBigData/NIH/SIIM CSV or sidecar JSON)")
    parser.add_argument("--normalisation", default="per_map", choices=("per_map", "shared", "raw"))
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="method parameter, e.g. n=50")


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["n=50", "noise=0.2"]`` -> ``{"n": 50, "noise": 0.2}`` (numbers and booleans parsed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out


def _parse_value(v: str) -> Any:
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def slug(text: str) -> str:
    """A file-name-safe form of a class name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "class"
