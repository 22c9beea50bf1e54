"""scripts/bench_study.py: a smoke run of its in-process parts on a tiny bundle, and the two helpers whose
figures the benchmark reports (process-tree memory, symlinked copies of a data set) against known answers."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from study_helpers import REPO

from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_study", REPO / "scripts" / "bench_study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dicom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 128 px DICOM phantoms (seed 3), as `radlens phantom` writes them."""
    out = tmp_path_factory.mktemp("bench-phantom")
    generate_dataset(out, 4, 3, PhantomConfig(size=128))
    return out


def test_quick_in_process_parts_print_every_row(bench: ModuleType, tiny_bundle: Path, dicom_set: Path,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """(a) and (d) on the tiny bundle: the plain loop counts every image; the pytorch-grad-cam loop makes
    one map per class (5 per image, d2) and engine.explain as many."""
    assert bench.main(["--quick", "--parts", "a,d", "--model", str(tiny_bundle), "--data", str(dicom_set),
                       "--cache", str(tmp_path), "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "| (a) plain loop" in text and "| 4 |" in text
    assert "(d2) all five classes, maps only (10 maps)" in text  # --quick: 2 images x 5 classes
    assert "GPU: not measured" in text


def test_tree_memory_sees_a_child_allocation(bench: ModuleType) -> None:
    """A child that holds 300 MiB raises the tree's peak RSS by at least that much."""
    code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}])"
    proc = subprocess.Popen([sys.executable, "-c", parent])
    with bench.TreeMemory(proc.pid, period=0.05) as mem:
        proc.wait(timeout=30)
    assert mem.peak >= 300 * 2**20
    assert mem.peak_root < 100 * 2**20  # the allocation is in the grandchild, not the root
    assert mem.peak_procs == 2


def test_copies_cycle_images_and_annotations(bench: ModuleType, dicom_set: Path, tmp_path: Path) -> None:
    """10 copies of 4 images: each image linked 2 or 3 times, each copy with its source's annotation rows."""
    out = bench.copies(dicom_set, 10, tmp_path)
    links = sorted((out / "images").iterdir())
    assert len(links) == 10 and all(p.is_symlink() for p in links)
    with (dicom_set / "train.csv").open() as f:
        src = list(csv.DictReader(f))
    with (out / "train.csv").open() as f:
        dst = list(csv.DictReader(f))
    for link in links:
        stem = link.resolve().stem
        rows = [{k: v for k, v in r.items() if k != "image_id"} for r in dst if r["image_id"] == link.stem]
        want = [{k: v for k, v in r.items() if k != "image_id"} for r in src if r["image_id"] == stem]
        assert rows == want and want
