"""``radlens report``: exit 0 and a PDF on success; exit 1, a message naming the file and the fix, and
nothing written on bad input."""

from __future__ import annotations

import json
from typing import cast

import pytest
from report_helpers import DEMO, DEMO_CSV, DEMO_IMAGE, flat, pdf_pages_text

from viewer.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["report", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_writes_a_report(tmp_path, capsys):
    out = tmp_path / "sub" / "r.pdf"
    rc, stdout, err = _run(capsys, str(DEMO_IMAGE), "--model", "default", "--method", "gradcam",
                           "--classes", "Pneumothorax,cardiomegaly", "--annotations", str(DEMO_CSV),
                           "--threshold", "top:0.05", "--out", str(out))
    assert rc == 0, err
    assert f"wrote {out}" in stdout and out.read_bytes().startswith(b"%PDF-")
    pages = pdf_pages_text(out)
    text = flat(" ".join(pages))
    words = sum(flat(p).startswith("Model boxes in words") for p in pages)  # a class's words may continue
    assert len(pages) == 2 + 2 + words + 1  # two class pages
    assert "Annotator R11" in text and "radlens report" in text and "--classes Pneumothorax,Cardiomegaly" in text


@pytest.mark.parametrize(
    ("argv", "needle", "fix"),
    [
        (["/nonexistent/x.dcm"], "/nonexistent/x.dcm", "Fix:"),
        ([str(DEMO_IMAGE), "--model", "/nonexistent/bundle"], "/nonexistent/bundle", "model.json"),
        ([str(DEMO_IMAGE), "--classes", "Pneumothorax,Fracture"], "'Fracture'", "Fix: use those names"),
        ([str(DEMO_IMAGE), "--classes", ","], "names no class", "Fix:"),
        # the second demo image is a normal study: no class is positive, so the default has nothing to report
        ([str(DEMO / "images" / "phantom_00001.dcm")], "phantom_00001.dcm", "--classes"),
    ],
    ids=["unreadable-image", "no-model", "unknown-class", "no-class", "nothing-explained"],
)
def test_cli_bad_input(tmp_path, capsys, argv, needle, fix):
    out = tmp_path / "r.pdf"
    rc, _, err = _run(capsys, *argv, "--out", str(out))
    assert rc == 1
    assert err.startswith("radlens report: error:") and needle in err and fix in err, err
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_perturbation_file(tmp_path, capsys):
    bad = tmp_path / "perturb.json"
    bad.write_text(json.dumps({"format": "something else"}))
    out = tmp_path / "r.pdf"
    rc, _, err = _run(capsys, str(DEMO_IMAGE), "--classes", "Pneumothorax", "--perturbation", str(bad),
                      "--out", str(out))
    assert rc == 1 and str(bad) in err and "radlens perturb" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["perturb.json"]


def test_cli_report_of_a_real_perturbation_run(tmp_path, capsys, default_model, demo_image, demo_result):
    """A perturb.json written by the engine (curves with a random band, at model resolution) round-trips into the
    report: its AUCs, its Δp table and a curves picture are printed."""
    from engine.perturb import PerturbationLab, Replacement, build_document, write_document
    from engine.perturb.curves import run_curves

    lab = PerturbationLab(default_model, demo_image, model_map=demo_result.map("Pneumothorax", "model"),
                          resolution="model")
    rep = Replacement.make("mean")
    curves = run_curves(lab, "Pneumothorax", orders=("morf",), replacement=rep, fractions=[0.0, 0.5], seeds=(0,))
    doc = build_document(default_model, image=str(DEMO_IMAGE), target="Pneumothorax", order="morf", replacement=rep,
                         resolution="model", seed=0, original=lab.original, method="gradcam", layer="layer4",
                         curves=curves)
    pj = write_document(doc, tmp_path / "perturb.json")
    out = tmp_path / "r.pdf"
    rc, _, err = _run(capsys, str(DEMO_IMAGE), "--classes", "Pneumothorax", "--perturbation", str(pj),
                      "--out", str(out))
    assert rc == 0, err
    pages = pdf_pages_text(out)
    text = flat(" ".join(pages))
    rnd = doc["random"]
    assert (f"Deletion AUC {doc['deletion_auc']:.3f} (random order: {rnd['deletion_auc_mean']:.3f} ± "
            f"{rnd['deletion_auc_sd']:.3f}, 1 seed)") in text
    assert f"Insertion AUC {doc['insertion_auc']:.3f}" in text and f"AOPC {doc['aopc']:.3f}" in text
    assert "Δp 50%" in text and "All 1 replaced fraction." in text
    from engine.report.tables import fmt_delta, fmt_prob

    for name, values in doc["delta_p"]["by_class"].items():
        row = " ".join([name, fmt_prob(doc["original"][name]), *[fmt_delta(v) for v in values[1:]]])
        assert row in text, row
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    page = next(i for i, p in enumerate(pages) if "Perturbation test" in p)
    resources = cast(DictionaryObject, PdfReader(str(out)).pages[page]["/Resources"])  # resolved by pypdf
    assert resources.get("/XObject"), "no curves picture on the perturbation page"
