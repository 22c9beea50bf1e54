"""The typed perturbation result: frozen, provenance, JSON round trip, old perturb.json files still read."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from perturb_models import REGION, SIZE, region_model

from engine.perturb import PerturbationLab, Replacement, build_document, read_document, run_curves, write_document
from engine.perturb.result import PerturbationDocumentError, PerturbationResult

#: A perturb.json exactly as the dict-returning build_document of RadLens 0.1 wrote it (curves and a region).
OLD_FILE = {
    "format": "radlens.perturbation", "schema_version": 1, "app": {"name": "radlens", "version": "0.1.0"},
    "model": {"name": "region-net", "version": "1", "sha256": "ab" * 32},
    "image": "/data/x.png", "method": "gradcam", "layer": "features", "class": "A",
    "mode": "blur", "mode_params": {"ksize": 11}, "order": "morf", "resolution": "model", "seed": 3, "patch": 1,
    "classes": ["A", "B"], "original": {"A": 0.9, "B": 0.2},
    "definitions": {"auc": "normalised AUC"}, "created": "2026-01-02T03:04:05+00:00",
    "fractions": [0.0, 0.5, 1.0],
    "deletion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.9, 0.4, 0.1]},
    "insertion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.1, 0.6, 0.9]},
    "deletion_auc": 0.45, "insertion_auc": 0.55, "aopc": 0.4,
    "random": {"seeds": [0, 1], "deletion_mean": [0.9, 0.7, 0.1], "deletion_sd": [0.0, 0.1, 0.0],
               "insertion_mean": [0.1, 0.3, 0.9], "insertion_sd": [0.0, 0.1, 0.0],
               "deletion_auc_mean": 0.6, "deletion_auc_sd": 0.05, "insertion_auc_mean": 0.4,
               "insertion_auc_sd": 0.04, "aopc_mean": 0.2},
    "delta_p": {"fractions": [0.0, 0.5, 1.0], "by_class": {"A": [0.0, 0.5, 0.8], "B": [0.0, -0.1, -0.2]}},
    "baseline": {"mode": "blur", "params": {"ksize": 21}},
    "orders": {"morf": {"deletion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.9, 0.4, 0.1]},
                        "insertion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.1, 0.6, 0.9]},
                        "deletion_auc": 0.45, "insertion_auc": 0.55, "aopc": 0.4},
               "lerf": {"deletion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.9, 0.85, 0.1]},
                        "insertion": {"fractions": [0.0, 0.5, 1.0], "scores": [0.1, 0.2, 0.9]},
                        "deletion_auc": 0.675, "insertion_auc": 0.35, "aopc": 0.2}},
    "region": {"box": [1.0, 2.0, 10.0, 12.0], "probabilities": {"A": 0.5, "B": 0.3},
               "delta_p": {"A": 0.4, "B": -0.1}, "pixels": 90},
}


def test_an_old_file_reads_into_typed_fields_and_writes_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "perturb.json"
    path.write_text(json.dumps(OLD_FILE))
    r = read_document(path)
    assert isinstance(r, PerturbationResult)
    assert r.target == "A" and r.summary.deletion_auc == 0.45 and r.summary.deletion is not None
    assert r.summary.deletion.scores == (0.9, 0.4, 0.1) and r.random is not None and r.random.seeds == (0, 1)
    assert r.orders["lerf"].insertion_auc == 0.35 and r.region is not None and r.region.pixels == 90
    assert r.delta_p is not None and r.delta_p.by_class["B"] == (0.0, -0.1, -0.2)
    assert r.model["sha256"] == "ab" * 32 and r.created == OLD_FILE["created"]
    assert r.to_dict() == OLD_FILE  # nothing lost, nothing added
    # unknown keys of a newer writer survive a round trip
    newer = PerturbationResult.from_dict({**OLD_FILE, "note": {"x": 1}})
    assert newer.extra == {"note": {"x": 1}} and newer.to_dict()["note"] == {"x": 1}


def test_the_result_is_frozen_and_its_mapping_view_is_the_json_form() -> None:
    r = PerturbationResult.from_dict(OLD_FILE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.target = "B"  # type: ignore[misc]
    assert r["class"] == "A" and "region" in r and "fraction" not in r and dict(r) == OLD_FILE
    assert r == PerturbationResult.from_json(r.to_json())


def test_built_from_a_real_run_with_provenance(tmp_path: Path) -> None:
    model = region_model()
    rng = np.random.default_rng(0)
    img = (0.4 + 0.2 * rng.random((SIZE, SIZE))).astype(np.float32)
    rel = np.zeros((SIZE, SIZE), np.float32)
    rel[REGION] = 1.0
    lab = PerturbationLab(model, img, model_map=rel)
    rep = Replacement.make("zero")
    curves = run_curves(lab, "A", replacement=rep, fractions=[0.0, 0.1, 0.5], seeds=[0, 1])
    single = lab.perturb(0.1, "morf", rep)
    r = build_document(model, image="x.png", target="A", order="morf", replacement=rep, resolution="model",
                       seed=0, original=lab.original, method="gradcam", layer="features", curves=curves,
                       single=single)
    assert r.model["name"] == "region-net" and r.model["version"] == "1" and r.model["sha256"] == model.weights_sha256
    assert r.versions["numpy"] == np.__version__ and r.created.endswith("+00:00") and r.schema_version == 1
    assert r.params["mode"] == "zero" and r.params["fractions"] == [0.0, 0.1, 0.5]
    assert r.params["random_seeds"] == [0, 1]
    assert r.fraction == 0.1 and r.probabilities is not None
    assert r.probabilities["A"] == pytest.approx(float(single.probabilities[0]))
    # the summary is the curves' own numbers
    assert r.summary.deletion_auc == pytest.approx(curves.summary("morf")["deletion_auc"])
    assert r.delta_p is not None and r.delta_p.by_class["A"] == pytest.approx(curves.delta_p("morf")["by_class"]["A"])
    path = write_document(r, tmp_path / "p.json")
    back = read_document(path)
    assert back == r and back.to_dict() == json.loads(path.read_text())


def test_documents_of_another_kind_are_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**OLD_FILE, "schema_version": 7}))
    with pytest.raises(PerturbationDocumentError, match=r"bad\.json.*schema 1"):
        read_document(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PerturbationDocumentError, match=r"broken\.json: cannot read"):
        read_document(broken)
    with pytest.raises(PerturbationDocumentError, match=r"missing keys \['original'\]"):
        PerturbationResult.from_dict({k: v for k, v in OLD_FILE.items() if k != "original"})
