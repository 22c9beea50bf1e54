"""A report of the default model on the demo study holds what the issue asks for (text read back with pypdf)."""

from __future__ import annotations

import hashlib
from typing import Any, cast

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
    pages = [flat(p) for p in pdf_pages_text(real_report[0])]
    # title + results, one page per class (its boxes in words may continue on the next page), the
    # perturbation page, the model card
    starts = [i for i, page in enumerate(pages) if any(page.startswith(f"{c} Probability") for c in REPORT_CLASSES)]
    assert starts[0] == 2 and len(starts) == len(REPORT_CLASSES)
    continued = [i for i, page in enumerate(pages) if page.startswith("Model boxes in words")]
    assert all(i - 1 in starts for i in continued)
    assert len(pages) == 2 + len(REPORT_CLASSES) + len(continued) + 1 + 1
    for k, name in enumerate(REPORT_CLASSES):
        page = pages[starts[k]]
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
    assert meta is not None and meta.subject is not None and meta.creator is not None
    assert meta.title == "RadLens explanation report"
    assert "gradcam" in meta.subject and "Pneumothorax" in meta.subject
    assert inp.model.weights_sha256[:12] in meta.subject
    assert meta.creator.startswith("RadLens")
    assert meta.author == "RadLens"


def test_images_are_lossless_and_print_sharp(real_report):
    """Every bitmap is Flate-compressed (lossless) and has >= 200 pixels per printed inch."""
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    path = real_report[0]
    reader = PdfReader(str(path))
    drawn: list[tuple[str, float, float]] = []
    for page in reader.pages:
        xobjects = cast(DictionaryObject, page["/Resources"]).get("/XObject", {})  # resolved by pypdf

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
    # the images really are there: page 1, each class page and the perturbation page (its curves)
    with_images = [i + 1 for i, p in enumerate(reader.pages) if cast(DictionaryObject, p["/Resources"]).get("/XObject")]
    texts = [flat(t) for t in pdf_pages_text(path)]
    class_pages = [i + 1 for i, t in enumerate(texts) if any(t.startswith(f"{c} Probability") for c in REPORT_CLASSES)]
    perturbation = [i + 1 for i, t in enumerate(texts) if t.startswith("Perturbation test")]
    assert len(class_pages) == len(REPORT_CLASSES) and len(perturbation) == 1
    assert with_images == [1, *class_pages, *perturbation], with_images


def test_title_page_has_date_version_study_and_box_legend(real_report):
    from engine.report.build import app_version

    path, inp = real_report
    page1 = flat(pdf_pages_text(path)[0])
    assert page1.count("RadLens explanation report") >= 2  # running header and title
    assert f"Created 2026-01-02 03:04 UTC · RadLens {app_version()}" in page1
    assert "Patient ID PHANTOM^0001" in page1 and "Study date 2022-12-04 09:00" in page1
    for annotator in sorted({b.annotator for b in inp.ground_truth.boxes}):
        assert f"Ground truth, annotator {annotator} (" in page1, annotator
    assert "Your boxes (1)" in page1 and "Model boxes, cut from the heatmap at top:0.05" in page1


def test_fine_grid_perturbation_prints_a_legible_delta_p_table(tmp_path):
    """A perturb.json on radlens perturb's default 21-fraction grid: at most 8 Δp columns, each number whole."""
    from report_helpers import make_fine_perturbation, synthetic_input

    from engine.report import write_report

    inp0 = synthetic_input()

    class _M:  # what the perturbation helper reads of a model
        name, version, weights_sha256 = "Synthetic", "1", inp0.model.weights_sha256
        class_names = tuple(inp0.explanation.class_names)

    pdf = write_report(synthetic_input(perturbation=make_fine_perturbation(_M)), tmp_path / "fine.pdf")
    text = flat(" ".join(pdf_pages_text(pdf)))
    assert "Δp 5% Δp 10% Δp 20% Δp 30% Δp 40% Δp 50% Δp 75% Δp 100%" in text, text[-1500:]
    assert "8 of the 21 fractions computed" in text
    # class k's Δp at fraction f is (k + 1) f / 10: a cell wrapped inside its column would split a number
    assert "Pneumothorax 0.9900 +0.005 +0.010 +0.020 +0.030 +0.040 +0.050 +0.075 +0.100" in text
    assert "Cardiomegaly 0.5000 +0.010 +0.020 +0.040 +0.060 +0.080 +0.100 +0.150 +0.200" in text
