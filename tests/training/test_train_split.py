"""Patient-level splits never split a patient; patient ids come from DICOM, CSV or names."""

from __future__ import annotations

import numpy as np

from training.config import DataConfig
from training.datasets import Example
from training.splits import patient_split, resolve_patients


def test_no_patient_in_two_splits():
    rng = np.random.default_rng(0)
    patients = [f"P{int(k)}" for k in rng.integers(0, 60, size=300)]
    split = patient_split(patients, 0.2, 0.2, seed=7)
    sets = [{patients[i] for i in getattr(split, s)} for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sorted(split.train + split.val + split.test) == list(range(300))
    assert 0.15 * 300 <= len(split.val) and 0.15 * 300 <= len(split.test)


def test_split_is_seeded_and_order_independent():
    patients = [f"P{i // 3}" for i in range(90)]
    a = patient_split(patients, 0.2, 0.2, seed=1)
    b = patient_split(patients, 0.2, 0.2, seed=1)
    c = patient_split(patients, 0.2, 0.2, seed=2)
    assert a == b and a.test != c.test
    rev = patient_split(patients[::-1], 0.2, 0.2, seed=1)
    assert {patients[::-1][i] for i in rev.test} == {patients[i] for i in a.test}


def test_patient_sources(tmp_path):
    ex = [Example(f"0000000{i}_00{i % 2}", tmp_path / "x.png", np.zeros(1), "") for i in range(3)]
    ids, note = resolve_patients(DataConfig(), ex, ["A", "", "B"])
    assert ids == ["A", ex[1].image_id, "B"] and "DICOM" in note
    csv = tmp_path / "p.csv"
    csv.write_text("image_id,patient_id\n" + "".join(f"{e.image_id}.png,Q{i % 2}\n" for i, e in enumerate(ex)))
    ids, _ = resolve_patients(DataConfig(patient_source="csv", patient_csv=str(csv)), ex, ["", "", ""])
    assert ids == ["Q0", "Q1", "Q0"]
    ids, _ = resolve_patients(DataConfig(patient_source="nih_prefix"), ex, ["", "", ""])
    assert ids == ["00000000", "00000001", "00000002"]
