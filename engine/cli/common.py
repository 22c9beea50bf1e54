"""Helpers shared by the headless subcommands."""

from __future__ import annotations

import argparse
import re
from typing import Any


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default",
        help="model bundle folder (or its model.json); 'default' (the default) is the bundled model",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")


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
