"""Building a report input: class selection, consistency checks, formatting of the tables."""

from __future__ import annotations

import dataclasses

import pytest
from report_helpers import synthetic_input

from engine.report import NothingExplainedError, ReportInputError, build_report_input, check_perturbation
from engine.report.tables import delta_p_rows, fmt_num, fmt_prob, probability_rows


def test_probability_format_never_prints_certainty():
    assert fmt_prob(0.123456) == "0.1235"
    assert fmt_prob(0.999999) == ">0.9999" and fmt_prob(1.0) == ">0.9999"
    assert fmt_prob(0.0) == "<0.0001" and fmt_prob(0.00004) == "<0.0001"
    assert fmt_num(float("nan")) == "–" and fmt_num(None) == "–" and fmt_num(0.0) == "0.000"


def test_probability_rows_mark_positives():
    inp = synthetic_input()
    rows = probability_rows(inp)
    assert rows[1] == ["Pneumothorax", "0.8808", "0.500", "POSITIVE", "page"]
    assert rows[2] == ["Cardiomegaly", "0.2689", "0.300", "negative", ""]


def test_class_selection():
    inp = synthetic_input()
    r, img, card = inp.explanation, inp.image, inp.model
    assert build_report_input(img, card, r, "predicted").classes == ("Pneumothorax",)
    assert build_report_input(img, card, r, "all").classes == ("Pneumothorax", "Cardiomegaly")
    assert build_report_input(img, card, r, ["cardiomegaly"]).classes == ("Cardiomegaly",)
    with pytest.raises(ReportInputError, match="unknown class 'Fracture'"):
        build_report_input(img, card, r, ["Fracture"])
    with pytest.raises(NothingExplainedError, match="nothing has been explained"):
        build_report_input(img, card, None, "all")
    none_positive = dataclasses.replace(r, thresholds=(0.99, 0.99))
    with pytest.raises(NothingExplainedError, match="--classes"):
        build_report_input(img, card, none_positive, "predicted")
    only_one = dataclasses.replace(r, explained=("Pneumothorax",), native_maps=r.native_maps[:1])
    with pytest.raises(ReportInputError, match="was not explained"):
        build_report_input(img, card, only_one, ["Cardiomegaly"])


def test_explanation_of_another_model_or_image_is_refused():
    inp = synthetic_input()
    other = dataclasses.replace(inp.model, weights_sha256="cd" * 32)
    with pytest.raises(ReportInputError, match="other model weights"):
        build_report_input(inp.image, other, inp.explanation, "all")
    smaller = inp.image.__class__(**{**{f.name: getattr(inp.image, f.name) for f in dataclasses.fields(inp.image)},
                                     "raw": inp.image.raw[:100], "display": inp.image.display[:100]})
    with pytest.raises(ReportInputError, match="not this one"):
        build_report_input(smaller, inp.model, inp.explanation, "all")


def test_perturbation_checks():
    card = synthetic_input().model
    good = {"format": "radlens.perturbation", "schema_version": 1, "model": {"sha256": card.weights_sha256}}
    assert check_perturbation(good, card) == good
    with pytest.raises(ReportInputError, match="not a RadLens perturbation"):
        check_perturbation({"format": "x"}, card, "p.json")
    with pytest.raises(ReportInputError, match="schema_version 9"):
        check_perturbation({**good, "schema_version": 9}, card)
    with pytest.raises(ReportInputError, match="other model weights"):
        check_perturbation({**good, "model": {"sha256": "ff" * 32}}, card)
    assert delta_p_rows({"delta_p": {}}) == []
    rows = delta_p_rows({"original": {"A": 0.9}, "delta_p": {"fractions": [0.05, 0.5], "by_class": {"A": [0.1, -0.2]}}})
    assert rows == [["Class", "p original", "Δp 5%", "Δp 50%"], ["A", "0.9000", "+0.100", "-0.200"]]
