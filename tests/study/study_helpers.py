"""Constants and helpers of the study tests (import from here, not from the conftest)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
N_IMAGES = 10
CORRUPT = "images/phantom_00005.png"


def study_yaml(model: Path, batch_size: int = 2) -> str:
    """A small study: Grad-CAM at the bundle's default layer and SmoothGrad with 2 samples."""
    return f"""
name: test-study
models: ["{model}"]
methods:
  - name: gradcam
  - name: smoothgrad
    params: {{n: 2, noise: 0.1}}
thresholds:
  top_fraction: [0.02, 0.05, 0.1]
  fraction_of_max: [0.5]
  otsu: true
localisation:
  pointing_tolerance_px: 8
run:
  batch_size: {batch_size}
"""


def tables_of(out: Path) -> dict[str, bytes]:
    """Every table CSV and failures.csv of a study folder, by name."""
    files = {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.csv"))}
    files["failures.csv"] = (out / "failures.csv").read_bytes()
    return files
