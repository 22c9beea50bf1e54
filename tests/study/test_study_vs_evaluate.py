"""The study's localisation tables agree with ``radlens evaluate`` (an independent, serial code path)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from study_helpers import CORRUPT

from training.evaluate import evaluate_bundle
from training.study.store import read_results


def test_gradcam_iou_and_pointing_equal_radlens_evaluate(tiny_bundle: Path, phantom_set: Path,
                                                         reference_run: Path) -> None:
    ids = [Path(p).stem for p in sorted(read_results(reference_run).column("image").to_pylist())]
    assert Path(CORRUPT).stem not in ids
    fractions = (0.02, 0.05, 0.1)
    result = evaluate_bundle(tiny_bundle, phantom_set, methods=["gradcam"], ids=sorted(set(ids)),
                             fractions=fractions)
    with (reference_run / "tables" / "iou_by_threshold.csv").open(newline="") as handle:
        iou = {(r["class"], r["policy"], r["subset"], r["threshold"]): r
               for r in csv.DictReader(handle) if r["method"] == "gradcam"}
    with (reference_run / "tables" / "pointing.csv").open(newline="") as handle:
        pointing = {(r["class"], r["subset"]): r for r in csv.DictReader(handle) if r["method"] == "gradcam"}
    compared = 0
    for cls, subsets in result["localisation"]["gradcam"].items():
        for subset, s in subsets.items():
            for f in fractions:
                key = f"top:{f:g}"
                for policy, metric in (("mean", "mean_iou"), ("best", "best_match_iou")):
                    ours = iou[(cls, policy, subset, key)]
                    assert int(ours["n"]) == s["n_images"]
                    if s[metric][key] is None or math.isnan(s[metric][key]):  # NaN is None in the JSON
                        assert ours["mean"] == ""
                    else:
                        assert float(ours["mean"]) == pytest.approx(s[metric][key], abs=5e-7)
                        compared += 1
            if s["n_images"]:
                assert float(pointing[(cls, subset)]["pointing_strict"]) == pytest.approx(s["pointing_game"],
                                                                                          abs=5e-7)
    assert compared >= 6  # several classes with ground truth were really compared
