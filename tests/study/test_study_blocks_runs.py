"""Robustness and sanity blocks in whole studies: rows in the store, resume on a local Ray, report
re-rendering, and the robustness preset resolved on the bundled ResNet-18."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from study_helpers import blocks_yaml, tables_of

from training.study import StudyConfig, load_study, parse_study, report_study, run_study
from training.study.plan import plan_models

N = 4  # the first four phantoms (none of them is the corrupt one)


@pytest.fixture(scope="module")
def blocks_cfg(tiny_bundle: Path, phantom_set: Path) -> StudyConfig:
    return parse_study(blocks_yaml(tiny_bundle)).with_overrides(folder=str(phantom_set), limit=N)


@pytest.fixture(scope="module")
def blocks_run(blocks_cfg: StudyConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blocks")
    run_study(blocks_cfg, out, workers=0, progress=False)
    return out


def test_blocks_write_their_rows_tables_and_figures(blocks_run: Path) -> None:
    rows = pq.read_table(blocks_run / "results").to_pylist()
    assert len(rows) == N * 2 * 5  # image x (robustness, sanity) x class
    rob = [r for r in rows if r["block"] == "robustness"]
    san = [r for r in rows if r["block"] == "sanity"]
    assert len(rob) == len(san) == N * 5
    assert all(r["conditions"] == ["contrast:5", "gaussian_noise:5"] and len(r["map_rmse"]) == 2 for r in rob)
    assert all(r["cascade"] == ["classifier.3", "classifier.0"] and len(r["sanity_ssim"]) == 2 for r in san)
    assert all(r["iou_mean"] is None for r in rows)
    assert {r["params_hash"] for r in rob}.isdisjoint({r["params_hash"] for r in san})
    names = {p.name for p in (blocks_run / "tables").glob("*.csv")}
    assert names == {"robustness.csv", "robustness_correlation.csv", "sanity.csv", "classification.csv"}
    for figure in ("robustness.png", "sanity.png"):
        assert (blocks_run / "figures" / figure).read_bytes().startswith(b"\x89PNG")
    tasks = json.loads((blocks_run / "study.json").read_text())["models"][0]["tasks"]
    assert len(tasks) == 2
    import csv

    with (blocks_run / "tables" / "sanity.csv").open(newline="") as handle:
        sanity = [r for r in csv.DictReader(handle) if r["class"] == "all"]
    assert [r["randomised"] for r in sanity] == ["classifier.3", "classifier.0"]


def test_resume_on_ray_and_report_give_the_same_tables(
    ray_session: None, blocks_cfg: StudyConfig, blocks_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    run_study(blocks_cfg.with_overrides(limit=2), out, workers=0, progress=False)
    # the rest on a local Ray: the blocks' settings cross to the actors and give the in-process rows
    summary = run_study(blocks_cfg, out, workers=1, progress=False, resume=True)
    assert summary.mode == "ray" and summary.skipped == 2 and summary.done == N - 2
    assert tables_of(out) == tables_of(blocks_run)
    copy = tmp_path / "copy"
    shutil.copytree(blocks_run, copy)
    shutil.rmtree(copy / "tables")
    shutil.rmtree(copy / "figures")
    written = report_study(copy)
    assert tables_of(copy) == tables_of(blocks_run)
    assert {p.name for p in written} >= {"robustness.csv", "sanity.csv", "robustness.png", "sanity.png"}


def test_robustness_preset_resolves_the_eight_residual_blocks_of_the_bundled_resnet18() -> None:
    (plan,) = plan_models(load_study("preset:robustness"))
    assert [(t.block, t.method, t.layer) for t in plan.tasks] == [
        ("robustness", "gradcampp", f"layer{i}.{j}") for i in (1, 2, 3, 4) for j in (0, 1)]
