"""Checks every shipped phantom bundle's test makes (tests/engine/test_phantom_*.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.phantom import CLASSES
from viewer.cli import main


def safetensors_header(path: Path) -> dict[str, Any]:
    """The safetensors header, read by hand (8-byte little-endian length, then JSON), metadata left out."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return {k: v for k, v in json.loads(raw[8:8 + n]).items() if k != "__metadata__"}


def assert_held_out_figures(manifest: Any) -> None:
    """The bundle records its held-out evaluation: every class, >= 300 images, a macro AUC that is their mean."""
    held = manifest.provenance["held_out_evaluation"]
    per_class = held["report"]["per_class"]
    assert set(per_class) == set(CLASSES) and held["n_images"] >= 300
    assert np.mean([per_class[c]["auc"] for c in CLASSES]) == pytest.approx(held["report"]["macro_auc"])


def assert_bundle_check_passes(bundle: Path, architecture: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``radlens bundle check`` finds no problem and reports the architecture and a five-class output."""
    assert main(["bundle", "check", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert architecture in out and "output (1, 5)" in out and "OK: no problem found" in out
