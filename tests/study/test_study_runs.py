"""Running a study: in-process vs local Ray, failures, report re-rendering, output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from study_helpers import CORRUPT, N_IMAGES, tables_of

from training.study import StudyConfig, StudyError, report_study, run_study
from training.study.store import part_files


def test_in_process_run_writes_every_output(reference_run: Path) -> None:
    study = json.loads((reference_run / "study.json").read_text())
    assert study["status"] == "complete"
    assert study["counts"] == {"images": N_IMAGES, "done": N_IMAGES - 1, "failed": 1, "not_studied": 0}
    assert study["models"][0]["name"] == "tiny-study" and len(study["models"][0]["sha256"]) == 64
    assert {t["method"] for t in study["models"][0]["tasks"]} == {"gradcam", "smoothgrad"}
    assert "ray" in study["versions"] and "torch" in study["versions"]
    assert len(study["data"]["fingerprint_sha256"]) == 64
    import re

    from engine.version import source_commit, version

    code = study["runs"][-1]["radlens"]  # the code that computed the rows: version and checkout commit
    assert code["version"] == version() and code["commit"] == source_commit()
    assert re.fullmatch(r"([0-9a-f]{40}(-dirty)?)?", code["commit"])
    rows = pq.read_table(reference_run / "results").to_pylist()
    # one row per image x model x method x layer x class, for every decodable image
    assert len(rows) == (N_IMAGES - 1) * 2 * 5
    located = [r for r in rows if r["n_gt_boxes"]]
    assert located and all(len(r["iou_mean"]) == 5 and r["thresholds"][-1] == "otsu" for r in located)
    assert all(r["iou_mean"] is None for r in rows if not r["n_gt_boxes"])
    for name in ("iou_by_threshold.csv", "pointing.csv", "classification.csv"):
        header = (reference_run / "tables" / name).read_text().splitlines()[0]
        assert header.startswith("model,model_name")
    figure = (reference_run / "figures" / "iou_by_threshold.png").read_bytes()
    assert figure.startswith(b"\x89PNG") and len(figure) > 5000


def test_corrupt_image_lands_in_failures_and_the_rest_is_done(reference_run: Path) -> None:
    with (reference_run / "failures.csv").open(newline="") as handle:
        failures = list(csv.DictReader(handle))
    assert [f["file"] for f in failures] == [CORRUPT]
    assert failures[0]["reason"].startswith("decode: ")
    images = set(pq.read_table(reference_run / "results", columns=["image"]).column("image").to_pylist())
    assert CORRUPT not in images and len(images) == N_IMAGES - 1


def _check_timings(out: Path) -> None:
    """study.json's timings: in order, within the run, and the steady rate computed from them."""
    run = json.loads((out / "study.json").read_text())["runs"][-1]
    t = run["timings"]
    assert 0 < t["scoring_start_s"] <= t["first_image_s"] <= t["last_image_s"] <= run["seconds"]
    assert t["steady_images_per_s"] == pytest.approx(
        (run["done"] + run["failed"]) / (t["last_image_s"] - t["scoring_start_s"]), rel=0.01)


def test_local_ray_gives_the_same_tables_as_in_process(
    ray_session: None, study_cfg: StudyConfig, reference_run: Path, tmp_path: Path
) -> None:
    import ray.data

    from training.study.pipeline import NO_PROGRESS_TIMEOUT_S

    summary = run_study(study_cfg, tmp_path, workers=2, progress=False)
    assert summary.mode == "ray" and summary.done == N_IMAGES - 1 and summary.failed == 1
    assert tables_of(tmp_path) == tables_of(reference_run)
    # Ray Data's 30-min no-progress guard failed a slow sanity study: the stream gets hours
    assert ray.data.DataContext.get_current().execution_no_progress_timeout_s == NO_PROGRESS_TIMEOUT_S > 1800
    _check_timings(tmp_path)
    _check_timings(reference_run)


def test_each_actor_runs_torch_with_the_cpus_it_reserved(ray_session: None) -> None:
    """A Ray worker whose torch pool was sized otherwise (3 threads) gets one thread per whole CPU it
    reserved, at least one; the driver is left alone."""
    import ray
    import torch

    from training.study.score import _use_assigned_cpus

    @ray.remote
    def threads_after() -> tuple[int | None, int]:
        import torch

        torch.set_num_threads(3)
        return _use_assigned_cpus(), torch.get_num_threads()

    assert ray.get(threads_after.options(num_cpus=0.5).remote(), timeout=120) == (1, 1)
    assert ray.get(threads_after.options(num_cpus=2).remote(), timeout=120) == (2, 2)
    before = torch.get_num_threads()
    assert _use_assigned_cpus() is None and torch.get_num_threads() == before


def test_report_re_renders_identical_tables_without_models(reference_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    shutil.rmtree(copy / "tables")
    shutil.rmtree(copy / "figures")
    written = report_study(copy)
    assert tables_of(copy) == tables_of(reference_run)
    assert copy / "figures" / "iou_by_threshold.png" in written


def test_existing_results_need_resume(study_cfg: StudyConfig, reference_run: Path) -> None:
    with pytest.raises(StudyError, match="--resume"):
        run_study(study_cfg, reference_run, workers=0, progress=False)


def test_resume_of_a_finished_study_does_nothing(study_cfg: StudyConfig, reference_run: Path,
                                                 tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    before = part_files(copy)
    summary = run_study(study_cfg, copy, workers=0, progress=False, resume=True)
    # only the corrupt image is tried again (it has no rows); nothing else is recomputed
    assert summary.skipped == N_IMAGES - 1 and summary.failed == 1 and part_files(copy) == before
    assert tables_of(copy) == tables_of(reference_run)


def test_report_refuses_a_folder_without_a_study(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match=r"study\.json"):
        report_study(tmp_path)


def test_cuda_on_a_cluster_without_gpu_is_refused_not_hung(ray_session: None, study_cfg: StudyConfig,
                                                           tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="no GPU"):
        run_study(study_cfg, tmp_path, workers=1, device="cuda", progress=False)
    assert json.loads((tmp_path / "study.json").read_text())["status"] == "failed"


def test_a_model_error_on_one_image_is_a_failure_not_a_crash(
    study_cfg: StudyConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.study.score as score

    real = score.image_rows

    def flaky(model: object, plan: object, item: score.WorkItem, *args: object, **kwargs: object) -> object:
        if item.image.endswith("phantom_00002.png"):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(model, plan, item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(score, "image_rows", flaky)
    summary = run_study(study_cfg.with_overrides(limit=4), tmp_path, workers=0, progress=False)
    assert summary.failures == {
        "images/phantom_00002.png": "model: RuntimeError: CUDA error: an illegal memory access was encountered"}
    assert summary.done == 3
    images = set(pq.read_table(tmp_path / "results", columns=["image"]).column("image").to_pylist())
    assert images == {f"images/phantom_{i:05d}.png" for i in (0, 1, 3)}


def test_one_models_error_keeps_the_other_models_rows_and_resume_scores_only_its_tasks(
    tiny_bundle: Path, phantom_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from study_helpers import mobilenet_bundle

    import training.study.score as score
    from training.study import parse_study

    second = mobilenet_bundle(tmp_path / "second", "second")
    cfg = parse_study(f'name: two\nmodels: ["{tiny_bundle}", "{second}"]\nmethods: [{{name: gradcam}}]\n')
    cfg = cfg.with_overrides(folder=str(phantom_set), limit=3)
    real = score.image_rows
    bad = "images/phantom_00001.png"

    def flaky(model: Any, plan: Any, item: score.WorkItem, *args: Any, **kwargs: Any) -> Any:
        if item.image == bad and plan.name == "second":
            raise RuntimeError("an error of the second model only")
        return real(model, plan, item, *args, **kwargs)

    monkeypatch.setattr(score, "image_rows", flaky)
    out = tmp_path / "out"
    summary = run_study(cfg, out, workers=0, progress=False)
    assert summary.failures == {bad: "model second: RuntimeError: an error of the second model only"}
    rows = pq.read_table(out / "results", columns=["image", "model_name"]).to_pylist()
    assert {r["model_name"] for r in rows if r["image"] == bad} == {"tiny-study"}  # the first model's rows kept
    monkeypatch.setattr(score, "image_rows", real)
    summary = run_study(cfg, out, workers=0, progress=False, resume=True)
    assert summary.done == 1 and summary.failures == {}
    rows = pq.read_table(out / "results", columns=["image", "model_name"]).to_pylist()
    assert sorted(r["model_name"] for r in rows if r["image"] == bad) == ["second"] * 5 + ["tiny-study"] * 5
