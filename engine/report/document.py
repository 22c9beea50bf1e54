"""The report's pages, in order, as reportlab flowables.

1. Title, study information, the image with every box and a legend.
2. Model output: all classes' probabilities and thresholds, the method and its parameters, the
   localisation summary.
3. One page per selected class: heatmap overlay with its colour bar (normalisation mode and value
   range), the class's boxes, IoU per annotator / policy / user, pointing and energy.
4. The perturbation test when one was run: settings, deletion/insertion curves with the random
   band, the Δp table.
5. The model card summary and what is needed to reproduce the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reportlab.lib.units import inch, mm
from reportlab.platypus import CondPageBreak, KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle

from engine.report import figures, tables
from engine.report.layout import AMBER, FRAME_WIDTH, bitmap, colour_bar, esc, legend_table, pairs_table, styles, table
from engine.report.model import STATEMENT, ReportInput

Step = Callable[[str], None]

OVERVIEW_WIDTH_IN = 4.4
CLASS_WIDTH_IN = 4.4
CURVES_SIZE_IN = (6.6, 2.9)


def method_info(name: str) -> tuple[str, dict[str, str]]:
    """The method's label and parameter help from the engine's registry ("" and {} when unknown)."""
    from engine.explainers.api import list_methods

    for m in list_methods():
        if m.name == name:
            return m.label, {p["name"]: p["help"] for p in m.params}
    return "", {}


def story(inp: ReportInput, step: Step) -> list[Any]:
    """Every flowable of the report; ``step(message)`` is called between the costly parts."""
    st = styles()
    label, helps = method_info(inp.explanation.method)
    out: list[Any] = []
    out += _first_page(inp, st, label, step)
    out.append(PageBreak())
    out += _results_page(inp, st, label, helps)
    for name in inp.classes:
        step(f"class page: {name}")
        out.append(PageBreak())
        out += _class_page(inp, name, st)
    if inp.perturbation is not None:
        step("perturbation")
        out.append(PageBreak())
        out += _perturbation_pages(inp, st)
    out.append(PageBreak())
    out += _card_page(inp, st)
    return out


def _first_page(inp: ReportInput, st: dict, label: str, step: Step) -> list[Any]:
    created = inp.created_text()
    r = inp.explanation
    banner = Table([[Paragraph(esc(STATEMENT + ". The maps show where the model's evidence lies; they are not "
                                   "findings and must not guide diagnosis."), st["banner"])]],
                   colWidths=[FRAME_WIDTH])
    banner.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), AMBER), ("TOPPADDING", (0, 0), (-1, -1), 4),
                                ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    summary = (f"Model <b>{esc(inp.model.name)} {esc(inp.model.version)}</b> "
               f"(SHA-256 {inp.model.weights_sha256[:12]}…) · "
               f"method <b>{esc(label or r.method)}</b> at {esc(', '.join(r.layers) or 'the input')} · "
               f"classes in this report: <b>{esc(', '.join(inp.classes))}</b>")
    step("overview image")
    rgb, legend = figures.overview_image(inp, OVERVIEW_WIDTH_IN)
    return [
        Paragraph(esc(inp.title), st["title"]),
        Paragraph(f"Created {esc(created)} · RadLens {esc(inp.app_version)}", st["body"]),
        Spacer(1, 3 * mm), banner, Spacer(1, 2 * mm),
        Paragraph("Study", st["h2"]), pairs_table(tables.study_rows(inp)),
        Paragraph("Image and annotations", st["h2"]), Paragraph(summary, st["small"]), Spacer(1, 2 * mm),
        bitmap(rgb, OVERVIEW_WIDTH_IN * inch), Spacer(1, 2 * mm),
        legend_table(legend, FRAME_WIDTH) if legend else Paragraph("No boxes.", st["small"]),
    ]


def _results_page(inp: ReportInput, st: dict, label: str, helps: dict[str, str]) -> list[Any]:
    w = FRAME_WIDTH
    probs = tables.probability_rows(inp)
    positive = [i for i, row in enumerate(probs[1:]) if row[3] == "POSITIVE"]
    regression = getattr(inp.explanation, "is_regression", False)
    out = [
        Paragraph("Model output", st["h1"]),
        Paragraph("Predicted value of every output of the regression model, in its unit. Each output has two maps: "
                  "what raises the value (the map of +y) and what lowers it (the map of −y); boxes and IoU are cut "
                  f"from the “{esc(inp.explanation.direction or 'raises')}” map." if regression else
                  "Probabilities of every class with the model's decision thresholds (a class is positive when its "
                  "probability reaches its threshold; positive rows in bold).", st["small"]),
        Spacer(1, 1.5 * mm),
        table(probs, [0.34 * w, 0.16 * w, 0.16 * w, 0.18 * w, 0.16 * w], emphasise=positive),
        Paragraph("Explanation method and parameters", st["h2"]),
        table(tables.method_rows(inp, label, helps), [0.38 * w, 0.62 * w]),
        Paragraph("Localisation summary", st["h2"]),
        Paragraph(f"Boxes are the connected components of each class's map cut at {esc(inp.threshold)}. IoU = "
                  "|A∩B| / (|A| + |B| − |A∩B|) in pixel-edge coordinates; “mean” is the research protocol (mean over "
                  "every annotator's boxes of the best-matching model box), “best” the best single match, “fused” "
                  "against the weighted-box-fusion consensus. – means there is no box to compare with.", st["small"]),
        Spacer(1, 1.5 * mm),
        table(tables.localisation_summary_rows(inp),
              [0.19 * w, 0.09 * w, 0.1 * w, 0.08 * w, 0.08 * w, 0.1 * w, 0.08 * w, 0.12 * w, 0.16 * w]),
    ]
    if inp.explanation.notes:
        out += [Paragraph("Notes on the method", st["h2"])]
        out += [Paragraph("• " + esc(n), st["small"]) for n in inp.explanation.notes]
    return out


def _class_page(inp: ReportInput, name: str, st: dict) -> list[Any]:
    r = inp.explanation
    loc = inp.localisation[name]
    i = r.class_names.index(name)
    t = r.thresholds[i] if r.thresholds else 0.5
    p = float(r.probabilities[i])
    lo, hi = r.scale(name)
    raw_lo, raw_hi = r.value_ranges[name]
    rgb, legend = figures.class_image(inp, name, CLASS_WIDTH_IN)
    img = bitmap(rgb, CLASS_WIDTH_IN * inch)
    side = FRAME_WIDTH - CLASS_WIDTH_IN * inch - 6
    bar = colour_bar(0.6 * img.drawHeight, inp.colormap, f"0 = {lo:.4g}", f"0.5 = {(lo + hi) / 2:.4g}",
                     f"1 = {hi:.4g}", ["colour = normalised map,", f"labels: raw value ({r.normalisation})"])
    row = Table([[img, [bar, Spacer(1, 3 * mm), legend_table(legend, side - 6, swatch=5 * mm)]]],
                colWidths=[CLASS_WIDTH_IN * inch + 6, side], hAlign="LEFT")
    row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    verdict = "POSITIVE" if p >= t else "negative"
    scale = (f"Heatmap of {esc(name)} by {esc(r.method)} at {esc(', '.join(r.layers) or 'the input')}, "
             f"opacity {inp.alpha:g}, colour map {esc(inp.colormap)}. Normalisation: "
             f"{esc(tables.NORMALISATION_TEXT.get(r.normalisation, r.normalisation))}; colour 0 is raw {lo:.4g}, "
             f"colour 1 is raw {hi:.4g}; raw map range [{raw_lo:.4g}, {raw_hi:.4g}].")
    w = FRAME_WIDTH
    regression = getattr(r, "is_regression", False)
    if regression:
        unit = r.unit(name)
        headline = (f"Predicted value <b>{r.value(name):.4g}{' ' + esc(unit) if unit else ''}</b> · map: what "
                    f"<b>{esc(r.direction or 'raises')}</b> it · model boxes at {esc(loc.threshold)}: {len(loc.boxes)}")
    else:
        headline = (f"Probability <b>{tables.fmt_prob(p)}</b> · threshold {t:.3f} · <b>{verdict}</b> · "
                    f"model boxes at {esc(loc.threshold)}: {len(loc.boxes)}")
    return [
        Paragraph(f"{esc(name)}", st["h1"]),
        Paragraph(headline, st["body"]),
        Spacer(1, 2 * mm), row, Spacer(1, 1.5 * mm),
        Paragraph(scale, st["small"]),
        *(_other_direction(inp, name, st) if regression and len(r.directions) > 1 else []),
        KeepTogether([Paragraph("Agreement with ground truth and your boxes", st["h2"]),
                      table(tables.class_score_rows(loc), [0.55 * w, 0.25 * w, 0.2 * w])]),
        CondPageBreak(28 * mm),
        Paragraph("Model boxes (image pixels, pixel-edge coordinates)", st["h2"]),
        table(tables.model_box_rows(loc), [0.08 * w, 0.15 * w, 0.15 * w, 0.15 * w, 0.15 * w, 0.32 * w]),
        *_region_paragraphs(inp, name, st),
    ]


def _region_paragraphs(inp: ReportInput, name: str, st: dict) -> list[Any]:
    """The model boxes in words: the patient's side from the image orientation, zone, size, shape, IoU."""
    texts = tables.region_texts(inp, name)
    if not texts:
        return []
    return [Spacer(1, 2 * mm), KeepTogether([
        Paragraph("Model boxes in words", st["h2"]),
        Paragraph("Side is the patient's (PatientOrientation, ImageOrientationPatient or ImageLaterality), not the "
                  "page's; zones are thirds along the head-foot axis; sizes count the highlighted pixels in each box.",
                  st["small"]),
        *[Paragraph("• " + esc(t), st["small"]) for t in texts]])]


def _other_direction(inp: ReportInput, name: str, st: dict) -> list[Any]:
    """A regression output's other direction's map (no model boxes: those are cut from the map above)."""
    from types import SimpleNamespace

    r = inp.explanation
    other = "lowers" if (r.direction or "raises") == "raises" else "raises"
    flipped = SimpleNamespace(image=inp.image, explanation=r.directed(other), localisation={}, colormap=inp.colormap,
                              alpha=inp.alpha, ground_truth=inp.ground_truth, user_boxes=inp.user_boxes)
    rgb, _legend = figures.class_image(flipped, name, CLASS_WIDTH_IN * 0.6)
    lo, hi = flipped.explanation.scale(name)
    return [
        CondPageBreak(70 * mm),
        Paragraph(f"What {other} the value", st["h2"]),
        bitmap(rgb, CLASS_WIDTH_IN * 0.6 * inch),
        Paragraph(f"The map of {'−y' if other == 'lowers' else '+y'} by the same method ({esc(r.method)}), "
                  f"normalised {esc(tables.NORMALISATION_TEXT.get(r.normalisation, r.normalisation))} (colour 0 is "
                  f"raw {lo:.4g}, colour 1 raw {hi:.4g}); ground-truth boxes drawn, model boxes only on the map above.",
                  st["small"]),
    ]


def _perturbation_pages(inp: ReportInput, st: dict) -> list[Any]:
    p = inp.perturbation
    if p is None:
        return []
    w = FRAME_WIDTH
    out: list[Any] = [
        Paragraph("Perturbation test", st["h1"]),
        Paragraph("The pixels the explanation ranks highest are replaced step by step and the model is run again. "
                  "A faithful map makes the class probability fall fast under deletion (low AUC) and rise fast under "
                  "insertion (high AUC), compared with replacing pixels in random order (grey band: mean ± 1 sd).",
                  st["small"]),
        Spacer(1, 1.5 * mm),
        table(tables.perturbation_rows(p), [0.3 * w, 0.7 * w]),
    ]
    curves = figures.curves_image(p, *CURVES_SIZE_IN)
    if curves is not None:
        out += [Spacer(1, 3 * mm), bitmap(curves, CURVES_SIZE_IN[0] * inch)]
    dp = tables.delta_p_rows(p)
    if dp:
        n = len(dp[0]) - 2
        every = list(p.delta_p.fractions) if p.delta_p is not None else []
        shown = (f"All {n} replaced fraction{'' if n == 1 else 's'}." if n >= len([f for f in every if f > 0]) else
                 f"{n} of the {len(every)} fractions computed (the research's 2, 5, 10, 20 and 50 % where computed); "
                 "every fraction is in the curves above and in perturb.json / perturb.csv.")
        out += [CondPageBreak(40 * mm),
                Paragraph("Δp of every class (p original − p replaced) by replaced fraction", st["h2"]),
                Paragraph(esc(shown), st["small"]), Spacer(1, 1.5 * mm),
                table(dp, [0.17 * w, 0.11 * w] + [0.72 * w / max(n, 1)] * n, padding=2)]
    region = p.region
    if region is not None and region.box:
        box = ", ".join(f"{v:.0f}" for v in region.box)
        rows = [["Class", "p with region replaced", "Δp"]]
        for c, v in region.probabilities.items():
            d = region.delta_p.get(c)
            rows.append([c, tables.fmt_prob(v), tables.fmt_delta(d) if d is not None else tables.MISSING])
        out += [Paragraph(f"Drawn region replaced (box {box})", st["h2"]), table(rows, [0.4 * w, 0.3 * w, 0.3 * w])]
    return out


def _card_page(inp: ReportInput, st: dict) -> list[Any]:
    r = inp.explanation
    w = FRAME_WIDTH
    out: list[Any] = [Paragraph("Model card", st["h1"]),
                      table([["Field", "Value"], *tables.model_card_rows(inp)], [0.3 * w, 0.7 * w])]
    if inp.model.description:
        out += [Spacer(1, 2 * mm), Paragraph(esc(inp.model.description), st["small"])]
    versions = ", ".join(f"{k} {v}" for k, v in r.versions.items())
    rows = [["Item", "Value"], ["Explanation computed", r.created or tables.MISSING],
            ["Libraries", versions or tables.MISSING]]
    if inp.command and not inp.deidentify:
        rows.append(["Command", inp.command])
    out += [Paragraph("Reproducing this report", st["h2"]), table(rows, [0.3 * w, 0.7 * w]),
            Spacer(1, 3 * mm),
            Paragraph(esc(STATEMENT) + ". RadLens and its bundled model are research software; nothing in this "
                      "report is a diagnosis.", st["closing"])]
    return out
