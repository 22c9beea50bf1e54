"""A report of the default model on the demo study holds what the issue asks for (text read back with pypdf)."""

from __future__ import annotations

import hashlib
from typing import Any

from report_helpers import REPORT_CLASSES, flat, pdf_pages_text


def _sha_of_weights(model: Any) -> str:
    """The weights' SHA-256 computed here, independently of the engine."""
    return hashlib.sha256((model.path / model.manifest.weights).read_bytes()).hexdigest()


def test_report_text_has_classes_probabilities_parameters_and_model(real_report, default_model, demo_result):
    pages = pdf_pages_text(real_report[0])
    text = flat(" ".join(pages))
    for name in default_model.class_names:  # every class is listed with its probability and threshold
        i = demo_result.class_names.index(name)
        p = float(demo_result.probabilities[i])
        shown = f"{p:.4f}" if 0.00005 <= p <= 0.99995 else (">0.9999" if p > 0.5 else "<0.0001")
        assert f"{name} {shown} {demo_result.thresholds[i]:.3f}" in text, (name, shown)
    positive = [c for c in demo_result.predicted()]
    assert positive and all(f"{c} " in text for c in positive)
    assert text.count("POSITIVE") >= len(positive)
    for needle in ("Grad-CAM (gradcam)", "layer4", "top:0.05", "layer fusion mean", "logit (pre-sigmoid)",
                   "per-map min–max"):
        assert needle in text, needle
    sha = _sha_of_weights(default_model)
    assert sha[:12] in text and sha in text  # prefix on page 1, full hash in the model card
    assert "Macro AUC" in text and "Training images" in text


def test_every_page_has_statement_and_page_number(real_report):
    pages = pdf_pages_text(real_report[0])
    n = len(pages)
    for i, page in enumerate(pages, 1):
        assert "Research use — not for diagnostic use" in page, i
        assert f"Page {i} of {n}" in page, i


def test_each_class_has_its_own_page(real_report):
    pages = pdf_pages_text(real_report[0])
    # title + results, one page per class, the perturbation page, the model card
    assert len(pages) == 2 + len(REPORT_CLASSES) + 1 + 1
    for k, name in enumerate(REPORT_CLASSES):
        page = flat(pages[2 + k])
        assert page.startswith(f"{name} Probability"), page[:200]
        assert "colour = normalised map" in page and "raw map range" in page
        others = [c for c in REPORT_CLASSES if c != name]
        assert not any(f"{o} Probability" in page for o in others)


def test_localisation_tables_match_the_engine(real_report):
    path, inp = real_report
    text = flat(" ".join(pdf_pages_text(path)))
    loc = inp.localisation["Pneumothorax"]
    assert loc.gt is not None and loc.user is not None
    for ann, v in loc.gt.per_annotator.items():
        assert f"Annotator {ann} {v:.3f}" in text
    assert f"All annotators, mean (research protocol) {loc.gt.mean:.3f}" in text
    assert f"Fused consensus (WBF) {loc.gt.fused:.3f}" in text
    assert f"Your boxes, mean {loc.user.mean:.3f}" in text
    assert f"Energy pointing game (share of energy in GT) {loc.energy:.3f}" in text
    # a class without ground truth shows a dash, never 0
    assert "– (no ground-truth box of this class)" in text


def test_perturbation_section(real_report):
    path, inp = real_report
    text = flat(" ".join(pdf_pages_text(path)))
    p = inp.perturbation
    assert "Perturbation test" in text
    assert "Deletion AUC 0.173 (random order: 0.771 ± 0.031, 3 seeds)" in text
    assert "Insertion AUC 0.813 (random order: 0.280 ± 0.021, 3 seeds)" in text
    assert "AOPC 0.642" in text
    assert "Δp 2% Δp 5% Δp 10% Δp 20% Δp 50%" in text
    first = p["model"]["name"] and next(iter(p["delta_p"]["by_class"]))
    assert f"{first} 0.5000 +0.011 -0.123 +0.250 +0.300 +0.456" in text
    assert "Replacement parameters ksize = 21" in text


def test_pdf_metadata(real_report):
    from pypdf import PdfReader

    path, inp = real_report
    meta = PdfReader(str(path)).metadata
    assert meta.title == "RadLens explanation report"
    assert "gradcam" in meta.subject and "Pneumothorax" in meta.subject
    assert inp.model.weights_sha256[:12] in meta.subject
    assert meta.creator.startswith("RadLens")
    assert meta.author == "RadLens"


def test_images_are_lossless_and_print_sharp(real_report):
    """Every bitmap is Flate-compressed (lossless) and has >= 200 pixels per printed inch."""
    from pypdf import PdfReader

    reader = PdfReader(str(real_report[0]))
    drawn: list[tuple[str, float, float]] = []
    for page in reader.pages:
        xobjects = page["/Resources"].get("/XObject", {})

        def visit(op: bytes, args: list, cm: list, tm: list, xobjects=xobjects) -> None:
            if op == b"Do" and args[0] in xobjects:
                drawn.append((args[0], abs(cm[0]), abs(cm[3])))  # width and height in points

        page.extract_text(visitor_operand_before=visit)
        for name, w_pt, h_pt in drawn:
            obj = xobjects[name].get_object()
            if obj.get("/Subtype") != "/Image":
                continue
            filters = obj.get("/Filter")
            filters = [filters] if isinstance(filters, str) else list(filters or [])
            assert filters == ["/FlateDecode"], filters
            assert obj["/Width"] / (w_pt / 72) >= 200 and obj["/Height"] / (h_pt / 72) >= 200, (name, w_pt)
        drawn.clear()
    # the images really are there: page 1 and each class page
    assert sum(1 for p in reader.pages if p["/Resources"].get("/XObject")) >= 1 + len(REPORT_CLASSES)
