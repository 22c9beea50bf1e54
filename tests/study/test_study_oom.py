"""A CUDA out-of-memory retries the image with the explainers' automatic batches halved; an image that
runs out of memory with batches of one goes to failures.csv with the reason (injected on CPU)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch

import training.study.score as score
from engine.explainers.base import auto_batch_size, batch_scale, current_batch_scale
from training.study import StudyConfig, run_study
from training.study.score import MIN_BATCH_SCALE, is_out_of_memory


def _oom() -> torch.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")


def _rows(out: Path, images: set[str]) -> list[dict[str, Any]]:
    rows = [r for r in pq.read_table(out / "results").to_pylist() if r["image"] in images]
    return sorted(rows, key=lambda r: (r["image"], r["method"], r["class"]))


def test_batch_scale_cuts_automatic_batches_and_nothing_else() -> None:
    from types import SimpleNamespace

    ctx = SimpleNamespace(module=torch.nn.Conv2d(1, 2, 3), x=torch.zeros(1, 1, 16, 16), device=torch.device("cpu"))
    full = auto_batch_size(ctx, 30, with_grad=True)  # type: ignore[arg-type]
    assert full == 30
    with batch_scale(0.25):
        assert current_batch_scale() == 0.25
        assert auto_batch_size(ctx, 30, with_grad=True) == 7  # type: ignore[arg-type]
        with batch_scale(MIN_BATCH_SCALE):
            assert auto_batch_size(ctx, 30, with_grad=True) == 1  # type: ignore[arg-type]
    assert current_batch_scale() == 1.0


def test_out_of_memory_retries_the_image_with_halved_batches_and_keeps_the_others(
    study_cfg: StudyConfig, reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    calls: list[tuple[str, float]] = []
    real = score.image_rows
    big = "images/phantom_00001.png"

    def limited(model: Any, plan: Any, item: score.WorkItem, *args: Any, **kwargs: Any) -> Any:
        calls.append((item.image, current_batch_scale()))
        if item.image == big and current_batch_scale() > 0.25:
            raise _oom()
        return real(model, plan, item, *args, **kwargs)

    monkeypatch.setattr(score, "image_rows", limited)
    summary = run_study(replace(study_cfg, batch_size=4).with_overrides(limit=4), tmp_path, workers=0,
                        progress=False)
    # the big image at 1, 1/2, 1/4; the one before it once; the ones after it once, at the cut scale
    assert calls == [("images/phantom_00000.png", 1.0), (big, 1.0), (big, 0.5), (big, 0.25),
                     ("images/phantom_00002.png", 0.25), ("images/phantom_00003.png", 0.25)]
    assert summary.done == 4 and summary.failed == 0
    images = {f"images/phantom_{i:05d}.png" for i in range(4)}
    got, want = _rows(tmp_path, images), _rows(reference_run, images)
    assert [(r["image"], r["method"], r["class"]) for r in got] == [(r["image"], r["method"], r["class"]) for r in want]
    for g, w in zip(got, want, strict=True):  # smaller SmoothGrad batches: the same maps up to float order
        for k in ("iou_mean", "iou_best", "energy", "diff"):
            assert (g[k] is None and w[k] is None) or g[k] == pytest.approx(w[k], rel=1e-4, abs=1e-6), (g, w, k)


def test_an_image_out_of_memory_with_batches_of_one_is_a_failure_and_the_study_goes_on(
    study_cfg: StudyConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    real = score.image_rows
    big = "images/phantom_00001.png"

    def big_image(model: Any, plan: Any, item: score.WorkItem, *args: Any, **kwargs: Any) -> Any:
        if item.image == big:
            raise _oom()
        return real(model, plan, item, *args, **kwargs)

    monkeypatch.setattr(score, "image_rows", big_image)
    summary = run_study(replace(study_cfg, batch_size=4).with_overrides(limit=3), tmp_path, workers=0,
                        progress=False)
    assert summary.done == 2 and summary.failed == 1  # phantom_00000..2
    with (tmp_path / "failures.csv").open(newline="") as handle:
        failures = {r["file"]: r["reason"] for r in csv.DictReader(handle)}
    assert list(failures) == [big]
    assert failures[big].startswith("model: CUDA out of memory with the explainers' batches cut to 0.015625 "
                                    "(OutOfMemoryError: CUDA out")


def test_only_device_memory_errors_count_as_out_of_memory() -> None:
    assert is_out_of_memory(_oom())
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert not is_out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not is_out_of_memory(MemoryError())


def test_one_models_out_of_memory_keeps_the_other_models_rows(
    tiny_bundle: Path, phantom_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from study_helpers import mobilenet_bundle

    from training.study import parse_study

    big_model = mobilenet_bundle(tmp_path / "big", "big")
    cfg = parse_study(f'name: two\nmodels: ["{tiny_bundle}", "{big_model}"]\nmethods: [{{name: gradcam}}]\n')
    cfg = cfg.with_overrides(folder=str(phantom_set), limit=2)
    calls: list[tuple[str, str, float]] = []
    real = score.image_rows
    bad = "images/phantom_00001.png"

    def big_on_one_image(model: Any, plan: Any, item: score.WorkItem, *args: Any, **kwargs: Any) -> Any:
        calls.append((item.image, plan.name, current_batch_scale()))
        if item.image == bad and plan.name == "big":
            raise _oom()
        return real(model, plan, item, *args, **kwargs)

    monkeypatch.setattr(score, "image_rows", big_on_one_image)
    summary = run_study(cfg, tmp_path / "out", workers=0, progress=False)
    # the first model once per image; only the big model retried, down to batches of one
    retries = [s for image, name, s in calls if image == bad and name == "big"]
    assert retries == [1.0 / 2**k for k in range(7)] and retries[-1] == MIN_BATCH_SCALE
    assert [(i, n) for i, n, _ in calls if n != "big"] == [("images/phantom_00000.png", "tiny-study"),
                                                          (bad, "tiny-study")]
    assert summary.failures == {bad: "model big: CUDA out of memory with the explainers' batches cut to 0.015625 "
                                     "(OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
                                     "(GPU 0; 7.79 GiB total))"}
    rows = pq.read_table(tmp_path / "out" / "results", columns=["image", "model_name"]).to_pylist()
    assert {r["model_name"] for r in rows if r["image"] == bad} == {"tiny-study"}  # the other model's rows kept
