"""The report's tables as rows of strings: pure functions, tested without a PDF.

Numbers are formatted by the functions here only, so the tests can look for exactly the text the
PDF holds. A value that does not exist (no ground truth of a class, nothing drawn by the user) is
shown as an en dash, never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.perturb.result import PerturbationResult
from engine.report.model import ReportInput

MISSING = "–"

NORMALISATION_TEXT = {
    "per_map": "per-map min–max (each class's map scaled to [0, 1] on its own)",
    "shared": "shared (one scale for every class of the image)",
    "raw": "raw values (no scaling)",
}

#: How parameters are named in reports (plain names stay as they are).
PARAM_TEXT = {
    "noise": "noise σ (fraction of input range)",
    "n": "noisy copies n",
    "steps": "path steps m",
    "fusion": "layer fusion",
    "seed": "seed",
}

Rows = list[list[str]]


def fmt_prob(p: float) -> str:
    """A probability as printed in every table of the report (4 decimals; the extremes as bounds).

    ``1.0000`` would read as certainty and ``0.0000`` as impossibility, so values that round to
    them are printed as ``>0.9999`` and ``<0.0001``.
    """
    p = float(p)
    if p > 0.99995:
        return ">0.9999"
    if p < 0.00005:
        return "<0.0001"
    return f"{p:.4f}"


def fmt_num(v: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or :data:`MISSING` for None/NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    return f"{float(v):.{digits}f}"


def fmt_value(v: Any) -> str:
    """A parameter value (floats with up to 4 significant digits)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return ", ".join(fmt_value(x) for x in v)
    return str(v)


def study_rows(inp: ReportInput) -> Rows:
    """Study information; with ``deidentify`` names, IDs, UIDs, dates and the file name are left out."""
    img = inp.image
    md = img.metadata
    h, w = img.shape
    spacing = (f"{img.spacing[0]:.4g} × {img.spacing[1]:.4g} mm ({img.spacing_source})"
               if img.spacing else "not given")
    technical = [
        ["Modality", md.modality or MISSING], ["Body part", md.body_part or MISSING],
        ["View", " ".join(v for v in (md.view_position, md.laterality) if v) or MISSING],
        ["Image size", f"{w} × {h} pixels"], ["Pixel spacing", spacing],
        ["Display window", img.window.label()],
    ]
    if inp.deidentify:
        from engine.report.deid import burned_in_annotation

        burned = burned_in_annotation(img)
        pixels = "shown as stored: text burned into the image is not removed" + (
            f" (the file says Burned In Annotation: {burned})" if burned else "")
        return [["De-identified", "names, IDs, UIDs, dates, institution, descriptions and the file name removed "
                                  "from all text and the PDF metadata"], *technical, ["Pixel data", pixels]]
    date = _dicom_date(md.study_date)
    when = " ".join(v for v in (date, _dicom_time(md.study_time)) if v)
    ident = [
        ["Image", inp.image_label or str(img.path.name)],
        ["Patient name", md.patient_name.replace("^", " ").strip() or MISSING],
        ["Patient ID", md.patient_id or MISSING],
        ["Birth date", _dicom_date(md.birth_date) or MISSING], ["Sex", md.sex or MISSING],
        ["Study date", when or MISSING], ["Study", md.study_description or MISSING],
        ["Series", md.series_description or MISSING],
        ["Study UID", md.study_instance_uid or MISSING],
    ]
    return ident + technical


def _dicom_date(d: str) -> str:
    d = (d or "").strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def _dicom_time(t: str) -> str:
    t = (t or "").strip()
    return f"{t[:2]}:{t[2:4]}" if len(t) >= 4 and t[:4].isdigit() else t


def probability_rows(inp: ReportInput) -> Rows:
    """Header + one row per class: probability, decision threshold, result, whether it has a page."""
    r = inp.explanation
    if getattr(r, "is_regression", False):
        return value_rows(inp)
    rows = [["Class", "Probability", "Threshold", "Result", "In report"]]
    for i, name in enumerate(r.class_names):
        t = r.thresholds[i] if r.thresholds else 0.5
        p = float(r.probabilities[i])
        rows.append([name, fmt_prob(p), f"{t:.3f}", "POSITIVE" if p >= t else "negative",
                     "page" if name in inp.classes else ""])
    return rows


def value_rows(inp: ReportInput) -> Rows:
    """A regression model's outputs: predicted value, unit, the map direction shown, whether it has a page."""
    r = inp.explanation
    rows = [["Output", "Predicted value", "Unit", "Maps", "In report"]]
    for i, name in enumerate(r.class_names):
        rows.append([name, f"{r.value(i):.4g}", r.unit(i) or MISSING,
                     "raises and lowers" if r.directions else MISSING, "page" if name in inp.classes else ""])
    return rows


def method_rows(inp: ReportInput, method_label: str = "", param_help: Mapping[str, str] | None = None) -> Rows:
    """Header + the explanation method, its target, layers and every parameter."""
    r = inp.explanation
    rows = [["Setting", "Value"],
            ["Method", f"{method_label} ({r.method})" if method_label else r.method],
            ["Target", r.target], ["Layer(s)", ", ".join(r.layers) or "input (gradient method)"]]
    for k, v in r.params.items():
        label = PARAM_TEXT.get(k, k)
        hint = (param_help or {}).get(k, "")
        rows.append([f"{label}" + (f" — {hint}" if hint and k not in PARAM_TEXT else ""), fmt_value(v)])
    rows += completeness_rows(r)
    any_loc = next(iter(inp.localisation.values()), None)
    rows += [
        ["Heatmap normalisation", NORMALISATION_TEXT.get(r.normalisation, r.normalisation)],
        ["Box threshold", inp.threshold],
        ["Boxes", f"connected components of the thresholded map ({any_loc.threshold})" if any_loc else MISSING],
        ["Input scaling", r.input_scaling or MISSING],
        ["Device / precision", f"{r.device} / {r.precision}"],
        ["Explanation time", f"{r.elapsed_s * 1000:.0f} ms"],
    ]
    return rows


def completeness_rows(r: Any) -> Rows:
    """Integrated Gradients: one row per explained class with its completeness gap (issue #14)."""
    diag = getattr(r, "diagnostics", None) or {}
    rows: Rows = []
    tol = diag.get("completeness_tolerance")
    for c in diag.get("completeness", ()):
        name = r.class_names[c["class_index"]]
        rel = c["relative_gap"]
        share = "undefined" if rel is None else f"{rel:.1%}"
        flag = " — WARNING: above tolerance" if rel is None or (tol is not None and rel > tol) else ""
        rows.append([f"Completeness gap, {name}",
                     f"attributions sum {c['attribution_sum']:.4g} vs f(x) − f(baseline) {c['expected']:.4g}: "
                     f"gap {c['gap']:.4g} ({share}" + (f"; tolerance {tol:.0%}" if tol is not None else "")
                     + f"){flag}"])
    return rows


def localisation_summary_rows(inp: ReportInput) -> Rows:
    """Header + per class: model boxes, IoU vs ground truth (mean/best/fused), vs user, pointing, energy."""
    rows = [["Class", "Model boxes", "IoU GT mean", "GT best", "GT fused", "IoU user mean", "user best",
             "Pointing game", "Energy pointing game"]]
    for name in inp.classes:
        loc = inp.localisation[name]
        gt, user = loc.gt, loc.user
        rows.append([
            name, str(len(loc.boxes)),
            fmt_num(gt.mean if gt else None), fmt_num(gt.best if gt else None), fmt_num(gt.fused if gt else None),
            fmt_num(user.mean if user else None), fmt_num(user.best if user else None),
            _hit(loc.pointing_hit), fmt_num(loc.energy),
        ])
    return rows


def _hit(v: bool | None) -> str:
    return MISSING if v is None else ("hit" if v else "miss")


def class_score_rows(loc: Any) -> Rows:
    """Header + IoU of one class's model boxes against each annotator, the policies and the user."""
    rows = [["Compared with", "IoU", "Boxes (GT / model)"]]
    if loc.gt is None:
        rows.append(["Ground truth", f"{MISSING} (no ground-truth box of this class)", ""])
    else:
        for ann, v in loc.gt.per_annotator.items():
            rows.append([f"Annotator {ann}", fmt_num(v), ""])
        rows += [["All annotators, mean (research protocol)", fmt_num(loc.gt.mean), f"{loc.gt.n_gt} / {loc.gt.n_pred}"],
                 ["All annotators, best match", fmt_num(loc.gt.best), ""],
                 ["Fused consensus (WBF)", fmt_num(loc.gt.fused), f"{len(loc.gt.fused_boxes)} fused"]]
    if loc.user is None:
        rows.append(["Your boxes", f"{MISSING} (none drawn for this class)", ""])
    else:
        rows += [["Your boxes, mean", fmt_num(loc.user.mean), f"{loc.user.n_gt} / {loc.user.n_pred}"],
                 ["Your boxes, best match", fmt_num(loc.user.best), ""]]
    rows += [["Pointing game (maximum inside a GT box)", _hit(loc.pointing_hit), ""],
             ["Energy pointing game (share of energy in GT)", fmt_num(loc.energy), ""],
             ["Mean inside GT − mean outside", fmt_num(loc.diff), ""]]
    return rows


def model_box_rows(loc: Any, limit: int = 8) -> Rows:
    """Header + the model boxes (pixel-edge coordinates), the largest first, at most ``limit``."""
    boxes = sorted((tuple(float(v) for v in b) for b in loc.boxes), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    rows = [["#", "x0", "y0", "x1", "y1", "Area (px)"]]
    for i, (x0, y0, x1, y1) in enumerate(boxes[:limit], 1):
        rows.append([str(i), f"{x0:.0f}", f"{y0:.0f}", f"{x1:.0f}", f"{y1:.0f}", f"{(x1 - x0) * (y1 - y0):.0f}"])
    if len(boxes) > limit:
        rows.append(["…", f"{len(boxes) - limit} smaller boxes not listed", "", "", "", ""])
    return rows


def region_texts(inp: ReportInput, name: str, limit: int = 8) -> list[str]:
    """The model boxes of ``name`` in words (:mod:`engine.localise.describe`), numbered as in :func:`model_box_rows`.

    Side and zone come from the image's orientation (the patient's side; assumed, and said so, when unknown),
    the size from its pixel spacing; the IoU is with the best ground-truth box of the class.
    """
    from engine.analysis import boxes_by_annotator
    from engine.localise.describe import describe_map, frame_of

    loc = inp.localisation[name]
    boxes = sorted((tuple(float(v) for v in b) for b in loc.boxes), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    if not boxes:
        return []
    regions = describe_map(inp.explanation.map(name, "image"), loc.threshold, boxes[:limit], frame_of(inp.image),
                           class_name=name, ground_truth=boxes_by_annotator(inp.ground_truth, name, "ground_truth"))
    return [r.text for r in regions]


CURVE_CONVENTION_TEXT = {
    "radlens": "radlens: deletion fills the image mean, insertion from a 21×21 blur (research protocol)",
    "rise": "rise: deletion fills normalised-input zeros, insertion from an 11×11 σ = 5 blur (Petsiuk et al. 2018)",
    "custom": "custom replacement / baseline (neither radlens nor RISE)",
}


def perturbation_rows(p: PerturbationResult) -> Rows:
    """Header + the perturbation's settings and summary scores (what was not computed is skipped)."""
    rows = [["Setting", "Value"]]
    regression = p.extra.get("task") == "regression"
    if regression:  # a regression model's scores are its predicted values (engine.perturb.document)
        unit = str((p.extra.get("units") or {}).get(p.target, ""))
        rows.append(["Scores", f"predicted values{' in ' + unit if unit else ''}, not probabilities: AUCs are mean "
                               "values, AOPC and Δp are value_original − value_perturbed"])
    who = "Output" if regression else "Class"
    for value, label in ((p.target, who), (p.method, "Explanation"), (p.layer, "Layer"), (p.mode, "Replacement"),
                         (p.mode_params, "Replacement parameters"), (p.order, "Order"),
                         (p.resolution, "Ranking resolution"), (p.seed, "Seed")):
        if value is not None:
            text = (", ".join(f"{k} = {fmt_value(x)}" for k, x in value.items()) if isinstance(value, Mapping)
                    else fmt_value(value))
            rows.append([label, text or MISSING])
    rnd = p.random
    for kind, auc, label in (("deletion", p.summary.deletion_auc, "Deletion AUC"),
                             ("insertion", p.summary.insertion_auc, "Insertion AUC")):
        if auc is not None:
            text = fmt_num(auc)
            mean = getattr(rnd, f"{kind}_auc_mean", None)
            sd = getattr(rnd, f"{kind}_auc_sd", None)
            if rnd is not None and mean is not None:
                n = len(rnd.seeds)
                text += f"  (random order: {fmt_num(mean)} ± {fmt_num(sd)}, {n} seed{'' if n == 1 else 's'})"
            rows.append([label, text])
    if p.summary.aopc is not None:
        rows.append(["AOPC", fmt_num(p.summary.aopc)])
    base = p.baseline
    if base is not None and base.get("mode"):
        params = ", ".join(f"{k} = {fmt_value(v)}" for k, v in (base.get("params") or {}).items())
        rows.append(["Insertion starts from", f"{base['mode']}" + (f" ({params})" if params else "")])
    if p.curves_convention:
        rows.append(["Curve convention", CURVE_CONVENTION_TEXT.get(p.curves_convention, p.curves_convention)])
    for name, summary in p.orders.items():  # the other orders run alongside (radlens perturb runs morf and lerf)
        if name == p.order:
            continue
        plain = {"morf": " (most relevant first)", "lerf": " (least relevant first)"}.get(name, "")
        aucs = (f"deletion AUC {fmt_num(summary.deletion_auc)}, insertion AUC "
                f"{fmt_num(summary.insertion_auc)}, AOPC {fmt_num(summary.aopc)}")
        rows.append([f"Order {name}{plain}", aucs])
    return rows


#: Most Δp columns a table row holds legibly across an A4 page.
MAX_DP_COLUMNS = 8
#: The research's replaced fractions (SPEC §5), shown first when the run computed them.
RESEARCH_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5)
#: Then these, in this order, until the table is full.
FILL_FRACTIONS = (1.0, 0.3, 0.75, 0.4, 0.6, 0.9, 0.15, 0.25, 0.01)


def delta_p_columns(fractions: Sequence[float], limit: int = MAX_DP_COLUMNS) -> list[int]:
    """Indices of the fractions the Δp table shows: all when they fit, else the research's first.

    Fraction 0 (nothing replaced, Δp = 0 by definition) is left out when there are others.
    A fine grid (``radlens perturb`` computes 21 fractions by default) would make dozens of
    columns too narrow to read; the full curve is in the plot and in ``perturb.json``/CSV.
    """
    idx = [i for i, f in enumerate(fractions) if f > 0] or list(range(len(fractions)))
    if len(idx) <= limit:
        return idx

    def find(target: float) -> int | None:
        return next((i for i in idx if abs(fractions[i] - target) < 1e-6), None)

    chosen: list[int] = []
    for target in (*RESEARCH_FRACTIONS, *FILL_FRACTIONS):
        i = find(target)
        if i is not None and i not in chosen and len(chosen) < limit:
            chosen.append(i)
    rest = [i for i in idx if i not in chosen]
    while len(chosen) < limit and rest:  # an unusual grid: spread the remaining columns evenly
        i = rest.pop(len(rest) // 2 if len(chosen) % 2 else -1)
        chosen.append(i)
    return sorted(chosen)


def fmt_delta(v: float) -> str:
    """A signed change with 3 decimals (one that rounds to zero prints as 0.000, never -0.000)."""
    text = f"{float(v):+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def delta_p_rows(p: PerturbationResult, limit: int = MAX_DP_COLUMNS) -> Rows:
    """Header + per class Δp = p(original) − p(replaced) at the fractions of :func:`delta_p_columns`."""
    if p.delta_p is None or not p.delta_p.fractions or not p.delta_p.by_class:
        return []
    fractions = p.delta_p.fractions
    cols = delta_p_columns(fractions, limit)
    rows = [["Class", "p original", *[f"Δp\u00a0{fractions[j] * 100:g}%" for j in cols]]]
    for name, values in p.delta_p.by_class.items():
        rows.append([name, fmt_prob(p.original[name]) if name in p.original else MISSING,
                     *[fmt_delta(values[j]) for j in cols]])
    return rows


def model_card_rows(inp: ReportInput) -> Rows:
    """The model card summary: identity, training data, reported metrics."""
    m = inp.model
    rows = [["Name", m.name], ["Version", m.version], ["Architecture", f"{m.architecture} ({m.task})"],
            ["Weights SHA-256", m.weights_sha256]]
    rows += [list(r) for r in m.training_data] or [["Training data", "not recorded in the bundle"]]
    rows += [list(r) for r in m.metrics] or [["Reported metrics", "none recorded in the bundle"]]
    return rows
