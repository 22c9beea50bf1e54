"""The ``perturbation`` block: a known-answer Δp on a model that reads one region per class, the
``delta_p.csv`` aggregation recomputed from the store, the per-image Δp against the engine's own
``delta_table``, validation, and resume + ``study report`` giving identical tables."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from study_helpers import tables_of

from training.study import StudyConfig, StudyConfigError, parse_study, report_study, run_study
from training.study.blocks import get_block
from training.study.blocks.base import ImageJob
from training.study.blocks.stats import image_seed
from training.study.data import WorkItem
from training.study.score import ModelPlan, Task

N = 4  # the first four phantoms (none of them is the corrupt one)
A, B = (slice(0, 8), slice(0, 8)), (slice(24, 32), slice(24, 32))


def _region_model() -> Any:
    """3 classes on a 32 px image: ``a`` reads only region A, ``b`` only region B, ``c`` nothing.

    ``logit = 8 * (mean of the region in model units - 0.75)``; the bright regions give p = sigmoid(2).
    """
    import torch
    from torch import nn

    from engine.models.bundle import LoadedModel
    from engine.models.manifest import ModelManifest

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            with torch.no_grad():
                self.conv.weight.fill_(1.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.conv(x)[:, 0]
            a = f[:, A[0], A[1]].mean(dim=(1, 2))
            b = f[:, B[0], B[1]].mean(dim=(1, 2))
            return torch.stack([8 * (a - 0.75), 8 * (b - 0.75), torch.full_like(a, -3.0)], dim=1)

    net = Net().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    manifest = ModelManifest(name="regions", version="0.1", architecture="custom", class_names=("a", "b", "c"),
                             input_size=(32, 32), in_channels=1, mean=(0.0,), std=(1.0,))
    return LoadedModel(module=net, manifest=manifest, weights_sha256="1" * 64)


def _region_job(settings: dict[str, Any]) -> tuple[ImageJob, Task]:
    from engine.explainers.base import get_method
    from training.study.score import forward_probabilities

    model = _region_model()
    image = np.full((32, 32), 0.2, dtype=np.float32)
    image[A] = 1.0
    image[B] = 1.0
    task = Task("layercam", "conv", get_method("layercam").resolve_params({}), "h", "perturbation")
    plan = ModelPlan("regions", "", model.weights_sha256, "regions", "0.1", ("a", "b", "c"), (0.5, 0.5, 0.5), (task,))
    item = WorkItem("img.png", "img.png", {"a": 1, "b": 1, "c": 0}, {})
    return ImageJob(model, plan, item, image, forward_probabilities(model, image)), task


def test_replacing_a_class_region_drops_only_that_class() -> None:
    settings = {"fractions": [0.02, 0.05], "modes": ["mean", "zero"], "rows": "predicted", "seeds": [0, 1, 2]}
    job, task = _region_job(settings)
    assert np.allclose(job.probabilities[:2], 1 / (1 + np.exp(-2.0)), atol=1e-4)
    rows = {r["class"]: r for r in get_block("perturbation").image_rows(job, [task], settings)}
    assert rows["c"]["dp_delta"] is None  # p(c) = sigmoid(-3): not predicted, not a target
    # the image mean in model units, and A's mean after k of its 64 pixels are replaced by it (or by 0)
    fill = float(job.image.astype(np.float64).mean())
    for target, own, other in (("a", 0, 1), ("b", 1, 0)):
        r = rows[target]
        assert r["dp_classes"] == ["a", "b", "c"] and r["dp_modes"] == ["mean", "zero"]
        delta = np.asarray(r["dp_delta"]).reshape(2, 2, 3)
        rnd = np.asarray(r["dp_random"]).reshape(2, 2)
        for m, value in enumerate((fill, 0.0)):
            for j, f in enumerate((0.02, 0.05)):
                k = round(f * 32 * 32)
                p = 1 / (1 + np.exp(-8 * ((64 - k + k * value) / 64 - 0.75)))
                assert delta[m, j, own] == pytest.approx(1 / (1 + np.exp(-2.0)) - p, abs=2e-3)
                assert abs(delta[m, j, other]) < 1e-6 and abs(delta[m, j, 2]) < 1e-6
                assert rnd[m, j] < 0.5 * delta[m, j, own]  # a random order rarely hits the region


def _study_yaml(model: Path) -> str:
    return f"""
name: perturbation-study
models: ["{model}"]
methods:
  - name: gradcam
metrics: [perturbation]
perturbation:
  fractions: [0.2, 0.05]
  modes: [mean, blur]
  rows: ground_truth
  seeds: [0, 1]
run:
  batch_size: 2
"""


@pytest.fixture(scope="module")
def pert_cfg(tiny_bundle: Path, phantom_set: Path) -> StudyConfig:
    return parse_study(_study_yaml(tiny_bundle)).with_overrides(folder=str(phantom_set), limit=N)


@pytest.fixture(scope="module")
def pert_run(pert_cfg: StudyConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("perturbation")
    run_study(pert_cfg, out, workers=0, progress=False)
    return out


def test_table_aggregates_the_stored_rows(pert_run: Path) -> None:
    rows = pq.read_table(pert_run / "results").to_pylist()
    targets = [r for r in rows if r["dp_delta"] is not None]
    assert targets and all(r["label"] == 1 for r in targets)
    assert {r["class"] for r in rows if r["label"] == 1} == {r["class"] for r in targets}
    table = list(csv.DictReader(io.StringIO((pert_run / "tables" / "delta_p.csv").read_text())))
    classes = targets[0]["dp_classes"]
    # subset "correct": the targets (ground-truth positives here) that the model also predicts
    in_subset = {"all": targets, "correct": [r for r in targets if r["predicted"]]}
    assert len(table) == sum(len({r["class"] for r in rs}) for rs in in_subset.values()) * 2 * 2 * len(classes)
    assert {line["subset"] for line in table} == {k for k, rs in in_subset.items() if rs}
    for line in table:
        trs = [r for r in in_subset[line["subset"]] if r["class"] == line["target_class"]]
        m = ["mean", "blur"].index(line["mode"])
        j = [0.05, 0.2].index(float(line["fraction"]))
        a = classes.index(line["affected_class"])
        values = [r["dp_delta"][(m * 2 + j) * len(classes) + a] for r in trs]
        assert int(line["n"]) == len(values)
        assert float(line["delta_p_mean"]) == pytest.approx(sum(values) / len(values), abs=1e-6)
        if len(values) > 1:
            assert float(line["delta_p_std"]) == pytest.approx(float(np.std(values, ddof=1)), abs=1e-6)
        if line["affected_class"] == line["target_class"]:
            band = [r["dp_random"][m * 2 + j] for r in trs]
            assert float(line["random_mean"]) == pytest.approx(sum(band) / len(band), abs=1e-6)
        else:
            assert line["random_mean"] == "" and line["random_std"] == ""
    assert (pert_run / "figures" / "delta_p.png").read_bytes().startswith(b"\x89PNG")


def test_stored_delta_equals_the_engine_delta_table(pert_run: Path, phantom_set: Path, tiny_bundle: Path) -> None:
    from engine import load_model
    from engine.io import load_image
    from engine.perturb import Replacement
    from engine.perturb.dataset import delta_table

    rows = pq.read_table(pert_run / "results").to_pylist()
    r = next(r for r in rows if r["dp_delta"] is not None)
    model = load_model(str(tiny_bundle), device="cpu")
    image = np.asarray(load_image(str(phantom_set / r["image"])).display, dtype=np.float32)
    seeds = [image_seed(s, r["image"]) for s in (0, 1)]
    for m, mode in enumerate(("mean", "blur")):
        tables = [delta_table(model, [(r["image"], image, [r["class"]])], method="gradcam", rows="ground_truth",
                              replacement=Replacement.make(mode), fractions=[0.05, 0.2], seed=s) for s in seeds]
        got = np.asarray(r["dp_delta"]).reshape(2, 2, -1)[m]
        np.testing.assert_allclose(got, tables[0].rows[r["class"]][0], atol=1e-6)
        band = np.mean([t.control[r["class"]][0] for t in tables], axis=0)
        np.testing.assert_allclose(np.asarray(r["dp_random"]).reshape(2, 2)[m], band, atol=1e-6)


def test_resume_on_ray_and_report_give_the_same_tables(
    ray_session: None, pert_cfg: StudyConfig, pert_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    run_study(pert_cfg.with_overrides(limit=2), out, workers=0, progress=False)
    # the rest on a local Ray: the block's settings cross to the actor and give the in-process rows
    summary = run_study(pert_cfg, out, workers=1, progress=False, resume=True)
    assert summary.mode == "ray" and summary.skipped == 2 and summary.done == N - 2
    assert tables_of(out) == tables_of(pert_run)
    copy = tmp_path / "copy"
    shutil.copytree(pert_run, copy)
    shutil.rmtree(copy / "tables")
    shutil.rmtree(copy / "figures")
    report_study(copy)
    assert tables_of(copy) == tables_of(pert_run)


def test_validation_lists_every_bad_perturbation_value(tiny_bundle: Path) -> None:
    text = _study_yaml(tiny_bundle).replace("fractions: [0.2, 0.05]", "fractions: [0.2, 1.5]").replace(
        "modes: [mean, blur]", "modes: [mean, smudge]").replace("rows: ground_truth", "rows: everyone\n  extra: 1")
    with pytest.raises(StudyConfigError) as err:
        parse_study(text)
    keys = {p.key for p in err.value.problems}
    assert {"perturbation.fractions[1]", "perturbation.modes[1]", "perturbation.rows", "perturbation.extra"} <= keys


def test_perturbation_preset_resolves_on_the_bundled_model() -> None:
    from training.study import load_study
    from training.study.plan import plan_models

    cfg = load_study("preset:perturbation")
    assert cfg.metrics == ("perturbation",)
    assert cfg.block_settings()["perturbation"] == {"fractions": [0.02, 0.05, 0.1, 0.2, 0.5], "modes": ["mean", "blur"],
                                                    "rows": "predicted", "seeds": [0, 1, 2]}
    (plan,) = plan_models(cfg)
    assert [(t.block, t.method) for t in plan.tasks] == [("perturbation", "gradcam")]


# --- Diff and EHR-AUC columns of the localisation block -------------------------------------------
def _ehr_of_exact_map(inside: float, n_thresholds: int = 100) -> float:
    """EHR-AUC of a map that is 1 exactly on a set S and 0 elsewhere, ``inside`` = |S ∩ GT| / |S|.

    At t = 0 every pixel is kept (inside share 64 / 1024 of the image for the 8 x 8 box); for t > 0
    only S (share ``inside``): the trapezoid differs from ``inside`` only on the first interval.
    """
    first = 64 / 1024
    return inside - (inside - first) / (n_thresholds - 1) / 2


def test_diff_and_ehr_auc_columns_and_table() -> None:
    settings = parse_study("metrics: [localisation]\nthresholds: {top_fraction: [0.0625]}\n").scoring_dict()
    job, task = _region_job({})
    box_a = {"r1": [[0.0, 0.0, 8.0, 8.0]]}
    box_b = {"r1": [[24.0, 24.0, 32.0, 32.0]]}
    jobs = [ImageJob(job.model, job.plan, WorkItem("1.png", "1.png", {"a": 1, "b": 1, "c": 0},
                                                   {"a": box_a, "b": box_a}), job.image, job.probabilities),
            ImageJob(job.model, job.plan, WorkItem("2.png", "2.png", {"a": 0, "b": 1, "c": 0},
                                                   {"b": box_b}), job.image, job.probabilities)]
    block = get_block("localisation")
    loc_task = Task(task.method, task.layer, task.params, "h", "localisation")
    rows = [r for j in jobs for r in block.image_rows(j, [loc_task], settings)]
    got = {(r["image"], r["class"]): (r["diff"], r["ehr_auc"]) for r in rows}
    # LayerCAM of a (b) is constant on region A (B) and 0 elsewhere: min-max 1 there, 0 elsewhere
    assert got[("1.png", "a")] == pytest.approx((1.0, _ehr_of_exact_map(1.0)), abs=1e-6)
    assert got[("1.png", "b")] == pytest.approx((0.0 - 64 / 960, _ehr_of_exact_map(0.0)), abs=1e-6)
    assert got[("2.png", "b")] == pytest.approx((1.0, _ehr_of_exact_map(1.0)), abs=1e-6)
    assert got[("1.png", "c")] == got[("2.png", "a")] == (None, None)  # no boxes: not scored
    table = list(csv.DictReader(io.StringIO(block.tables(rows, settings)["diff_ehr.csv"])))
    b_all = next(t for t in table if t["class"] == "b" and t["subset"] == "all")
    diffs = [1.0, -64 / 960]
    assert int(b_all["diff_n"]) == 2
    assert float(b_all["diff_mean"]) == pytest.approx(np.mean(diffs), abs=1e-6)
    assert float(b_all["diff_std"]) == pytest.approx(np.std(diffs, ddof=1), abs=1e-6)
    assert float(b_all["ehr_auc_mean"]) == pytest.approx((_ehr_of_exact_map(1.0) + _ehr_of_exact_map(0.0)) / 2,
                                                         abs=5e-5)  # written with 4 decimals
    c_all = next(t for t in table if t["class"] == "c" and t["subset"] == "all")
    assert c_all["diff_n"] == "0" and c_all["diff_mean"] == ""
