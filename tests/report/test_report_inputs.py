"""Building a report input: class selection, consistency checks, formatting of the tables."""

from __future__ import annotations

import dataclasses

import pytest
from report_helpers import synthetic_input

from engine.perturb.result import PerturbationResult
from engine.report import NothingExplainedError, ReportInputError, build_report_input, check_perturbation
from engine.report.tables import delta_p_rows, fmt_num, fmt_prob, probability_rows


def _typed(**keys: object) -> PerturbationResult:
    """A perturbation result holding ``keys`` beside the document's required ones."""
    required = {"format": "radlens.perturbation", "schema_version": 1, "app": {"name": "radlens", "version": "0"},
                "model": {"name": "m", "version": "1"}, "image": "x.png", "class": "A", "mode": "mean",
                "classes": ["A"], "original": {"A": 0.5}}
    return PerturbationResult.from_dict({**required, **keys})


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
    good = {"format": "radlens.perturbation", "schema_version": 1, "model": {"sha256": card.weights_sha256},
            "app": {"name": "radlens", "version": "0.1.0"}, "image": "x.png", "class": "A", "mode": "mean",
            "classes": ["A"], "original": {"A": 0.9}}
    typed = check_perturbation(good, card)  # the report reads the typed result; its JSON form is the document
    assert isinstance(typed, PerturbationResult) and typed.target == "A"
    assert {k: typed.to_dict()[k] for k in good} == good
    assert check_perturbation(typed, card) is typed
    with pytest.raises(ReportInputError, match="missing keys"):
        check_perturbation({k: v for k, v in good.items() if k != "original"}, card)
    with pytest.raises(ReportInputError, match="not a RadLens perturbation"):
        check_perturbation({"format": "x"}, card, "p.json")
    with pytest.raises(ReportInputError, match="schema_version 9"):
        check_perturbation({**good, "schema_version": 9}, card)
    with pytest.raises(ReportInputError, match="other model weights"):
        check_perturbation({**good, "model": {"sha256": "ff" * 32}}, card)
    assert delta_p_rows(typed) == []
    rows = delta_p_rows(PerturbationResult.from_dict(
        {**good, "delta_p": {"fractions": [0.05, 0.5], "by_class": {"A": [0.1, -0.2]}}}))
    assert rows == [["Class", "p original", "Δp\u00a05%", "Δp\u00a050%"], ["A", "0.9000", "+0.100", "-0.200"]]


def test_delta_p_table_keeps_a_fine_grid_legible():
    """radlens perturb computes 21 fractions by default: the table shows at most 8, the research's first."""
    from engine.perturb.curves import default_fractions
    from engine.report.tables import MAX_DP_COLUMNS, delta_p_columns, fmt_delta

    grid = default_fractions()
    assert len(grid) == 21
    assert [grid[i] for i in delta_p_columns(grid)] == [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]
    research = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5]
    assert [research[i] for i in delta_p_columns(research)] == [0.02, 0.05, 0.1, 0.2, 0.5]  # 0: Δp is 0
    odd = [round(0.01 * k, 2) for k in range(1, 31)]  # 0.01 ... 0.30
    shown = [odd[i] for i in delta_p_columns(odd)]
    assert len(shown) == MAX_DP_COLUMNS and {0.02, 0.05, 0.1, 0.2, 0.3} <= set(shown) and shown == sorted(shown)
    dp = {"fractions": grid, "by_class": {"A": [k / 100 for k in range(21)]}}
    rows = delta_p_rows(_typed(original={"A": 0.5}, delta_p=dp))
    assert len(rows[0]) == 2 + MAX_DP_COLUMNS and rows[1][2:] == ["+0.010", "+0.020", "+0.040", "+0.060", "+0.080",
                                                                   "+0.100", "+0.150", "+0.200"]
    assert fmt_delta(-0.0001) == "0.000" and fmt_delta(0.0004) == "0.000" and fmt_delta(-0.0006) == "-0.001"


def test_method_table_names_sigma_and_n_of_a_noise_method():
    """SmoothGrad's σ and n (and every other parameter) are printed under their plain names."""
    from engine.report.document import method_info
    from engine.report.tables import method_rows

    inp = synthetic_input()
    params = {"noise": 0.15, "n": 25, "seed": 3, "batch_size": 8, "abs": True, "reduce": "max"}
    smooth = dataclasses.replace(inp, explanation=dataclasses.replace(inp.explanation, method="smoothgrad",
                                                                      layers=(), params=params))
    label, helps = method_info("smoothgrad")
    rows = {r[0].split(" — ")[0]: r[1] for r in method_rows(smooth, label, helps)}
    assert rows["Method"] == "SmoothGrad (smoothgrad)" and rows["Layer(s)"] == "input (gradient method)"
    assert rows["noise σ (fraction of input range)"] == "0.15" and rows["noisy copies n"] == "25"
    assert rows["seed"] == "3" and rows["batch_size"] == "8" and rows["abs"] == "yes" and rows["reduce"] == "max"
    assert rows["Box threshold"] == "top:0.05" and rows["Heatmap normalisation"].startswith("per-map")


def test_perturbation_rows_name_the_insertion_baseline_and_the_other_order():
    from engine.report.tables import perturbation_rows

    p = _typed(**{"class": "A", "mode": "mean", "order": "morf", "deletion_auc": 0.2, "insertion_auc": 0.9,
                  "aopc": 0.7, "baseline": {"mode": "blur", "params": {"ksize": 21, "sigma": 3.5}},
                  "orders": {"morf": {"deletion_auc": 0.2, "insertion_auc": 0.9, "aopc": 0.7},
                             "lerf": {"deletion_auc": 0.93, "insertion_auc": 0.12, "aopc": 0.09}}})
    rows = perturbation_rows(p)
    assert ["Insertion starts from", "blur (ksize = 21, sigma = 3.5)"] in rows
    assert ["Order lerf (least relevant first)", "deletion AUC 0.930, insertion AUC 0.120, AOPC 0.090"] in rows
    assert not any(r[0].startswith("Order morf") for r in rows)  # the plain keys already describe morf
