"""A CUDA out-of-memory halves the scoring batch and tries again; an image that runs out of memory
alone goes to failures.csv with the reason (injected on CPU from the scoring call)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch

from training.study import StudyConfig, run_study
from training.study.score import Scorer, is_out_of_memory


def _oom() -> torch.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")


def _rows(out: Path, images: set[str]) -> list[dict[str, Any]]:
    rows = [r for r in pq.read_table(out / "results").to_pylist() if r["image"] in images]
    return sorted(rows, key=lambda r: (r["image"], r["method"], r["class"]))


def test_out_of_memory_above_one_image_halves_the_batch_and_gives_the_same_rows(
    study_cfg: StudyConfig, reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    sizes: list[int] = []
    real = Scorer.score_batch

    def limited(self: Scorer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sizes.append(len(rows))
        if len(rows) > 1:
            raise _oom()
        return real(self, rows)

    monkeypatch.setattr(Scorer, "score_batch", limited)
    summary = run_study(replace(study_cfg, batch_size=4).with_overrides(limit=4), tmp_path, workers=0,
                        progress=False)
    # 4 -> 2 -> 1, then one image at a time (the batch stays halved)
    assert sizes == [4, 2, 1, 1, 1, 1]
    assert summary.done == 4 and summary.failed == 0
    images = {f"images/phantom_{i:05d}.png" for i in range(4)}
    assert _rows(tmp_path, images) == _rows(reference_run, images)  # as scored without any error


def test_an_image_out_of_memory_alone_is_a_failure_and_the_study_goes_on(
    study_cfg: StudyConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    real = Scorer.score_batch
    big = "images/phantom_00001.png"

    def big_image(self: Scorer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(r["image"] == big for r in rows):
            raise _oom()
        return real(self, rows)

    monkeypatch.setattr(Scorer, "score_batch", big_image)
    summary = run_study(replace(study_cfg, batch_size=4).with_overrides(limit=3), tmp_path, workers=0,
                        progress=False)
    assert summary.done == 2 and summary.failed == 1  # phantom_00000..2
    with (tmp_path / "failures.csv").open(newline="") as handle:
        failures = {r["file"]: r["reason"] for r in csv.DictReader(handle)}
    assert list(failures) == [big]
    assert failures[big].startswith("model: CUDA out of memory with a batch of 1 image (OutOfMemoryError: CUDA out")

def test_only_device_memory_errors_count_as_out_of_memory() -> None:
    assert is_out_of_memory(_oom())
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert not is_out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not is_out_of_memory(MemoryError())
