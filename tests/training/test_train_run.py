"""End to end: a tiny config trains, exports a bundle the engine loads, resumes exactly, runs under DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine.io import load_image
from engine.models.bundle import load_model
from engine.preprocess import to_model_input
from training.checkpoint import load_checkpoint
from training.config import load_config
from training.synthetic import write_vinbigdata_set
from training.trainer import run_training

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = tmp_path_factory.mktemp("tinydata")
    write_vinbigdata_set(data, n=24, size=48, seed=2, fmt="dicom", images_per_patient=2)
    cfg = load_config(ROOT / "configs" / "tiny-test.yaml")
    cfg = cfg.replace(data=dataclasses.replace(cfg.data, root=str(data)),
                      train=dataclasses.replace(cfg.train, epochs=1))
    return data, cfg


def _quiet(_line: str) -> None:
    pass


def test_one_epoch_exports_a_bundle_the_engine_loads(tiny, tmp_path):
    data, cfg = tiny
    result = run_training(cfg, out_dir=tmp_path, command="radlens train --config tiny.yaml", log=_quiet)
    assert result.epochs_run == 1 and result.bundle == tmp_path / "bundle"
    assert result.bundle is not None
    model = load_model(result.bundle)
    m = model.manifest
    assert m.class_names[0] == "Nodule/Mass" and m.in_channels == 1 and len(m.thresholds) == 5
    prov = m.provenance
    assert prov["command"] == "radlens train --config tiny.yaml"
    assert prov["recipe"]["model"]["architecture"] == "shufflenet_v2_x0_5"
    assert set(prov["metrics"]["val"]["per_class"]) == set(m.class_names)
    assert prov["data"]["patients"] == "DICOM PatientID"
    x, _geometry, _ = to_model_input(load_image(data / "images" / "img000.dcm").display, m)
    with torch.no_grad():
        probs = torch.sigmoid(model.module(x))
    assert probs.shape == (1, 5) and torch.all((probs >= 0) & (probs <= 1))
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")  # weights_only=True inside
    assert ckpt["epoch"] == 0 and isinstance(ckpt["rng"]["numpy"]["keys"], torch.Tensor)
    split = json.loads((tmp_path / "split.json").read_text())
    pats = split["patients"]
    assert not {pats[i] for i in split["train"]} & {pats[i] for i in split["val"] + split["test"]}
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1


def test_resume_continues_at_next_epoch_with_the_same_state(tiny, tmp_path):
    _data, cfg = tiny
    two = cfg.replace(train=dataclasses.replace(cfg.train, epochs=2, patience=0))
    straight = run_training(two, out_dir=tmp_path / "straight", log=_quiet)
    assert straight.epochs_run == 2
    # One epoch of the same 2-epoch schedule, then "interrupted".
    first = tmp_path / "resumed"
    stopped = run_training(two, out_dir=first, log=_quiet, stop_after=1)
    assert stopped.bundle is None and not (first / "bundle").exists()
    ckpt1 = load_checkpoint(first / "checkpoint.pt")
    assert ckpt1["epoch"] == 0
    lines: list[str] = []
    resumed = run_training(two, out_dir=first, resume=first / "checkpoint.pt", log=lines.append)
    assert resumed.epochs_run == 1  # only epoch 2 ran
    assert any("resumed" in line for line in lines)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(first / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 1
    for key, value in a["model"].items():
        assert torch.allclose(value.float(), b["model"][key].float(), atol=1e-5), key
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    np.testing.assert_allclose(a["history"][-1]["train_loss"], b["history"][-1]["train_loss"], rtol=1e-5)


def test_two_process_gloo_ddp_run(tiny, tmp_path):
    data, _cfg = tiny
    raw = yaml.safe_load((ROOT / "configs" / "tiny-test.yaml").read_text())
    raw["data"]["root"] = str(data)
    raw["train"]["epochs"] = 1
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
         "-m", "viewer.cli", "train", "--config", str(config), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "bundle" / "model.json").is_file()
    assert load_model(out / "bundle").manifest.provenance["recipe"]["train"]["epochs"] == 1
    assert proc.stdout.count("bundle:") == 1  # only rank 0 exports
    assert len((out / "log.jsonl").read_text().splitlines()) == 1
