"""``OUT/report.pdf``: the study report for a paper's supplement, rendered from the stored results alone.

Written by ``radlens study run`` at the end and again by ``radlens study report OUT`` from
``study.json``, ``OUT/tables/*.csv``, ``OUT/figures/*.png`` and ``OUT/failures.csv`` (no model
runs). The same folder always gives the same PDF: the "created" date is the start of the study's
last run (from ``study.json``) and reportlab's invariant mode keeps the file's own timestamps out.

Contents: a title page with the research-use statement and the study as run (data, counts,
runs and timings, models with their SHA-256, versions, configuration); every table (numbers
rounded to 3 decimals, the CSVs keep 6; tables wider than the page are split into parts that
repeat the row keys; long tables are cut at :data:`MAX_ROWS` rows, with a note); every figure with a
caption saying what it shows; the failures.

The page layout (fonts, table style, header/footer with page numbers and the statement) is the
per-image report's (:mod:`engine.report.layout`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from engine.atomic import atomic_write_bytes

REPORT_PDF = "report.pdf"
#: Rows of one table printed in the PDF (the CSV holds them all).
MAX_ROWS = 400
#: Failures listed one by one (the rest are counted by reason).
MAX_FAILURES_LISTED = 60
CELL_FONT_SIZE = 7.0
#: A table (part) up to this many times the page's width is shrunk to fit rather than split.
SQUEEZE = 1.0
MONO = "RadLensMono"

#: Column names shown shorter in the PDF's headers.
HEADER_NAMES = {"pointing_strict": "pointing", "pointing_tolerant": "pointing ±tol", "tolerance_px": "tol px",
                "energy_mean": "energy", "energy_std": "energy std", "energy_n": "energy n",
                "delta_p_mean": "Δp mean", "delta_p_std": "Δp std", "random_mean": "random Δp",
                "random_std": "random std", "predicted_positive": "predicted +", "affected_class": "affected",
                "target_class": "target", "delta_auc": "ΔAUC"}

#: What each table holds (shown above it).
TABLE_NOTES = {
    "classification.csv": "Per model and class: images, positives, predicted positives (probability ≥ the bundle's "
                          "threshold) and ROC AUC over the study's images.",
    "iou_by_threshold.csv": "Mean IoU of the boxes cut from the map against the annotators' boxes, by threshold "
                            "(top:F keeps the top fraction F of the map, max:F the pixels above F × its maximum, "
                            "otsu Otsu's threshold), per annotator policy (mean over annotators, best match, fused "
                            "consensus) and subset (all = images with a box of the class; correct = those the model "
                            "also predicts). The CSV also holds the sample std.",
    "pointing.csv": "Pointing game (the map's maximum inside a box of the class), strict and within the tolerance, "
                    "and the energy pointing game (share of the map's positive energy inside the boxes).",
    "diff_ehr.csv": "Diff (mean normalised map inside the boxes minus outside) and EHR-AUC (share of kept pixels "
                    "inside the boxes, integrated over 100 thresholds).",
    "delta_p.csv": "Δp = p_original − p_replaced of every affected class when the top fraction of the target "
                   "class's map is replaced; random = the same number of pixels replaced in a random order.",
    "robustness.csv": "Per corruption and severity: AUC clean and corrupted, ΔAUC, and how far the heatmap moved "
                      "(RMSE, SSIM against the clean map).",
    "robustness_correlation.csv": "Across the corruption × severity conditions: correlation between map change "
                                  "and ΔAUC (Pearson, Spearman).",
    "sanity.csv": "Cascading randomisation (head first): similarity of the map after each step to the original "
                  "map (SSIM of normalised maps, Spearman of raw maps). Low values = the method depends on the "
                  "weights, as it should.",
    "calibration.csv": "Calibration per class: ECE, MCE and Brier score before and after temperature scaling "
                       "(temperature fitted on the validation split when the study has one).",
    "reliability.csv": "Reliability diagram bins: mean confidence and observed frequency per bin.",
    "gaze.csv": "Saliency against the radiologists' gaze: KL divergence, CC, SIM, NSS and AUC-Judd, on images with "
                "a gaze recording.",
    "architectures.csv": "The models side by side on the same images (one column group per model): Diff, EHR-AUC, "
                         "pointing game and the best mean IoU over the top-fraction grid with its threshold; gaze "
                         "CC and NSS where the data carries gaze recordings.",
}

#: What each figure shows (its caption).
FIGURE_CAPTIONS = {
    "iou_by_threshold.png": "Mean IoU (mean over the annotators' boxes, all images with a ground-truth box of the "
                            "class) against the top fraction of the map kept, one panel per explanation and one "
                            "line per class. The peak is the threshold at which the map's boxes best match the "
                            "radiologists'.",
    "delta_p.png": "Each target class's own Δp (p_original − p_replaced) against the fraction of its map replaced, "
                   "one line per replacement mode; dotted: the random-order band. A curve above its band means the "
                   "map points at pixels the model uses for that class.",
    "robustness.png": "Left panels: mean heatmap RMSE against the clean map by corruption severity, one line per "
                      "explanation (layer). Right: ΔAUC against heatmap RMSE over every corruption × severity.",
    "sanity.png": "Similarity of the map to the original map as the network is randomised from the head towards "
                  "the input (SSIM left, Spearman right). A method that explains the model falls towards 0.",
    "reliability.png": "Reliability diagram: observed frequency against mean predicted probability per bin; the "
                       "diagonal is perfect calibration. Marker area and the bars below: forecasts per bin (few "
                       "forecasts, little evidence). The legend gives each curve's ECE and the temperature.",
    "architectures.png": "The models side by side (all images with a ground-truth box of the class): Diff, EHR-AUC, "
                         "pointing game and best mean IoU per class, one bar per model.",
}


def _register_mono() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if MONO in pdfmetrics.getRegisteredFontNames():
        return
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
    pdfmetrics.registerFont(TTFont(MONO, str(ttf)))


# --- table text ---------------------------------------------------------------------------------
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return (rows[0], rows[1:]) if rows else ([], [])


def number_text(value: str) -> str:
    """A CSV number as printed in the report: decimals rounded to 3 places, or to 2 significant digits
    below 0.0005 in magnitude, where 3 places would print 0.000 (a Brier score of 0.00039 is not
    "0.000"); integers and text unchanged."""
    if "." not in value and "e" not in value.lower():
        return value
    try:
        v = float(value)
    except ValueError:
        return value
    if v != 0 and abs(v) < 0.0005:
        return f"{v:.2g}" if abs(v) >= 1e-4 else f"{v:.1e}"
    return f"{v:.3f}"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _drop_model_columns(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Without the weights SHA-256 (on the title page) when the model's name is there; without the name
    when the study has one model."""
    drop = set()
    if "model_name" in header:
        drop.add("model")
        j = header.index("model_name")
        if len({r[j] for r in rows}) <= 1:
            drop.add("model_name")
    keep = [i for i, c in enumerate(header) if c not in drop]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


def _tag(row: list[str], ix: dict[str, int]) -> str:
    """The parameters hash of a row (or a hash of its parameters' text when the table has none)."""
    import hashlib

    if "params_hash" in ix:
        return row[ix["params_hash"]]
    return hashlib.sha256(row[ix["params"]].encode()).hexdigest()[:6] if "params" in ix else ""


def explanation_labels(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """Replace the explanation key columns (model SHA, method, layer, params hash, params) by one label.

    Returns:
        (header, rows, legend): ``legend`` maps each label to the parameters it stands for.
    """
    if "method" in header and "params" in header and "layer" not in header:  # architectures.csv
        header = [*header[: header.index("method") + 1], "layer", *header[header.index("method") + 1:]]
        at = header.index("layer")
        rows = [[*r[:at], "", *r[at:]] for r in rows]
    if "method" not in header or "layer" not in header:
        kept_header, kept_rows = _drop_model_columns(header, rows)
        return kept_header, kept_rows, {}
    ix = {c: header.index(c) for c in header}
    labels: dict[tuple[str, ...], str] = {}
    plain: dict[str, set[str]] = {}
    for row in rows:
        base = f"{row[ix['method']]} @ {row[ix['layer']]}" if row[ix["layer"]] else row[ix["method"]]
        plain.setdefault(base, set()).add(_tag(row, ix))
    legend: dict[str, str] = {}
    for row in rows:
        base = f"{row[ix['method']]} @ {row[ix['layer']]}" if row[ix["layer"]] else row[ix["method"]]
        h = _tag(row, ix)
        label = f"{base} [{h[:6]}]" if len(plain[base]) > 1 else base
        labels[tuple(row)] = label
        legend[label] = row[ix["params"]] if "params" in ix else ""
    drop = {"model", "method", "layer", "params_hash", "params"}
    models = {row[ix["model_name"]] for row in rows} if "model_name" in ix else set()
    if len(models) <= 1:
        drop.add("model_name")
    keep = [i for i, c in enumerate(header) if c not in drop]
    at = min(i for i, c in enumerate(header) if c in ("method", "layer"))
    insert_at = sum(1 for i in keep if i < at)
    new_header = [header[i] for i in keep]
    new_header.insert(insert_at, "explanation")
    new_rows: list[list[str]] = []
    for row in rows:
        cells = [row[i] for i in keep]
        cells.insert(insert_at, labels[tuple(row)])
        new_rows.append(cells)
    return new_header, new_rows, legend


def pivot_iou(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """``iou_by_threshold.csv`` with the thresholds as columns (the mean IoU in each cell)."""
    ix = {c: header.index(c) for c in header}
    keys = [c for c in header if c not in ("threshold", "mean", "std", "n")]
    thresholds: list[str] = list(dict.fromkeys(r[ix["threshold"]] for r in rows))
    grouped: dict[tuple[str, ...], dict[str, tuple[str, str]]] = {}
    for r in rows:
        grouped.setdefault(tuple(r[ix[c]] for c in keys), {})[r[ix["threshold"]]] = (r[ix["mean"]], r[ix["n"]])
    out = []
    for key, cells in grouped.items():
        n = max((int(v[1]) for v in cells.values() if v[1].isdigit()), default=0)
        out.append([*key, str(n), *(cells.get(t, ("", ""))[0] for t in thresholds)])
    return [*keys, "n", *thresholds], out


# --- layout ---------------------------------------------------------------------------------------
def _widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[float]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from engine.report.layout import FONT, FONT_BOLD

    out = []
    for j, h in enumerate(header):
        longest_word = max((stringWidth(w, FONT_BOLD, CELL_FONT_SIZE) for w in h.split()), default=0.0)
        cells = max((stringWidth(r[j], FONT, CELL_FONT_SIZE) for r in rows), default=0.0)
        cap = 150.0 if _is_number(rows[0][j] if rows and rows[0][j] else "0") else 84.0  # text wraps
        out.append(min(cap, max(22.0, longest_word, cells)) + 5.5)
    return out


def _key_count(header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Leading columns that identify a row (text, or integer keys like a bin or a step)."""
    k = 0
    for j, name in enumerate(header):
        if _group_of(name) is not None:  # a model's column group: values, never keys
            break
        values = [r[j] for r in rows if r[j]]
        numeric = bool(values) and all(_is_number(v) for v in values)
        if numeric and name not in ("step", "bin", "severity", "fraction", "layer_rank"):
            break
        k = j + 1
    return max(1, min(k, len(header) - 1))


def _group_of(column: str) -> str | None:
    """``A`` of a column named ``A: metric`` (a model's column group), else None."""
    return column.split(": ", 1)[0] if ": " in column else None


def _column_parts(header: list[str], widths: list[float], keys: int, frame: float) -> list[list[int]]:
    """Column index lists, each part = the key columns + value columns that fit the frame.

    Columns named ``GROUP: metric`` stay together with their group where the group fits.
    """
    key_width = sum(widths[:keys])
    rest = list(range(keys, len(header)))
    if key_width + sum(widths[i] for i in rest) <= frame * SQUEEZE:
        return [list(range(len(header)))]
    groups: list[list[int]] = []
    for i in rest:
        name = _group_of(header[i])
        if groups and name is not None and name == _group_of(header[groups[-1][0]]):
            groups[-1].append(i)
        else:
            groups.append([i])
    parts: list[list[int]] = []
    current: list[int] = []
    room = frame * SQUEEZE - key_width  # a part up to SQUEEZE x the frame is shrunk to fit
    for group in groups:
        gw = sum(widths[i] for i in group)
        if current and sum(widths[i] for i in current) + gw > room:
            parts.append(current)
            current = []
        if gw > room:  # a group wider than the page: split it column by column
            for i in group:
                if current and sum(widths[j] for j in current) + widths[i] > room:
                    parts.append(current)
                    current = []
                current.append(i)
            parts.append(current)  # the next group starts a part of its own
            current = []
        else:
            current.extend(group)
    if current:
        parts.append(current)
    return [list(range(keys)) + p for p in parts]


def _table_flowables(name: str, header: list[str], rows: list[list[str]], st: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import Paragraph, Spacer

    from engine.report.layout import FRAME_WIDTH, esc

    if name == "iou_by_threshold.csv" and {"threshold", "mean", "n"} <= set(header):
        header, rows = pivot_iou(header, rows)
    header, rows, legend = explanation_labels(header, rows)
    summary_first = len(rows) > MAX_ROWS and "class" in header
    if summary_first:  # cut: keep the pooled rows (class "all") of every group, then the per-class ones
        ci = header.index("class")
        rows = [r for r in rows if r[ci] == "all"] + [r for r in rows if r[ci] != "all"]
    shown = [[number_text(c) for c in r] for r in rows[:MAX_ROWS]]
    head = [HEADER_NAMES.get(h, h).replace("_", " ") for h in header]
    out: list[Any] = []
    if not rows:
        return [Paragraph("No rows (the block produced no data for this study).", st["small"])]
    short = [h.split(": ", 1)[1] if ": " in h else h for h in head]  # a model group's metric names
    widths = _widths(short, shown)
    keys = _key_count(header, rows)
    parts = _column_parts(head, widths, keys, FRAME_WIDTH)
    for pi, cols in enumerate(parts):
        groups = list(dict.fromkeys(_group_of(head[c]) for c in cols[keys:]))
        one_group = len(groups) == 1 and groups[0] is not None
        where = ""
        if one_group:  # a model's layer column with one value goes into the caption
            layer_cols = [c for c in cols[keys:] if short[c] == "layer"]
            values = {r[c] for c in layer_cols for r in shown if r[c]}
            if layer_cols and len(values) <= 1:
                cols = [c for c in cols if c not in layer_cols]
                where = f" at {next(iter(values))}" if values else ""
        if len(parts) > 1 or where:
            what = f"model {groups[0]}{where}" if one_group else f"columns {', '.join(head[c] for c in cols[keys:])}"
            out.append(Paragraph(f"Part {pi + 1} of {len(parts)} ({esc(what)})", st["note"]))
        names = [short[c] if one_group else head[c] for c in cols]
        w = [widths[c] for c in cols]
        scale = min(1.0, FRAME_WIDTH / sum(w))
        t = _grid([names, *([r[c] for c in cols] for r in shown)], [x * scale for x in w], st)
        out += [t, Spacer(1, 6)]
    if len(rows) > MAX_ROWS:
        first = " (the rows of class 'all' first)" if summary_first else ""
        out.append(Paragraph(f"The first {MAX_ROWS} of {len(rows)} rows are shown{first}; the CSV holds them all.",
                             st["small"]))
    if legend and any(legend.values()):
        lines = "<br/>".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in sorted(legend.items()))
        out.append(Paragraph(f"Explanations and their parameters: {lines}", st["small"]))
    return out


def _grid(rows: Sequence[Sequence[str]], widths: Sequence[float], st: dict[str, Any]) -> Any:
    """A header row and body rows at :data:`CELL_FONT_SIZE`, styled as the per-image report's tables;
    numeric columns right-aligned."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Table, TableStyle

    from engine.report.layout import GRID, HEADER_BG, esc

    right = ParagraphStyle("num", parent=st["cell"], alignment=2)
    numeric = [all(_is_number(r[j]) or not r[j] for r in rows[1:]) and len(rows) > 1 for j in range(len(rows[0]))]
    data = [[Paragraph(esc(c), st["cellb"]) for c in rows[0]]]
    data += [[Paragraph(esc(c), right if numeric[j] else st["cell"]) for j, c in enumerate(r)] for r in rows[1:]]
    t = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                           ("LEFTPADDING", (0, 0), (-1, -1), 2.5), ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
                           ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG)]))
    return t


def _cell_style(st: dict[str, Any]) -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle

    return {**st, "h2": ParagraphStyle("h2k", parent=st["h2"], keepWithNext=1),
            "note": ParagraphStyle("notek", parent=st["small"], keepWithNext=1, spaceAfter=2),
            "cell": ParagraphStyle("c7", parent=st["cell"], fontSize=CELL_FONT_SIZE, leading=8.6),
            "cellb": ParagraphStyle("cb7", parent=st["cellb"], fontSize=CELL_FONT_SIZE, leading=8.6)}


# --- the document ------------------------------------------------------------------------------------
def _created(study: dict[str, Any]) -> str:
    runs = study.get("runs") or []
    return str(runs[-1].get("started", "")) if runs else ""


def _title_page(study: dict[str, Any], out: Path, st: dict[str, Any]) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    from engine.report.layout import AMBER, FRAME_WIDTH, esc, pairs_table, table
    from engine.report.model import STATEMENT

    cfg = study.get("study", {})
    data = study.get("data", {})
    counts = study.get("counts", {})
    name = cfg.get("name") or out.name
    banner = Table([[Paragraph(esc(STATEMENT), st["banner"])]], colWidths=[FRAME_WIDTH])
    banner.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), AMBER), ("TOPPADDING", (0, 0), (-1, -1), 5),
                                ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    flow: list[Any] = [Paragraph(f"RadLens study report: {esc(name)}", st["title"]), banner, Spacer(1, 6)]
    if cfg.get("description"):
        flow.append(Paragraph(esc(cfg["description"]), st["body"]))
    flow += [Spacer(1, 4), Paragraph("The study as run", st["h2"])]
    flow.append(pairs_table([
        ["study file", str(cfg.get("source", ""))], ["status", str(study.get("status", ""))],
        ["images", str(counts.get("images", ""))], ["done", str(counts.get("done", ""))],
        ["failed", str(counts.get("failed", ""))], ["metric blocks", ", ".join(cfg.get("metrics") or [])],
        ["data folder", str(data.get("folder", ""))], ["data format", str(data.get("format", ""))],
        ["annotations", str(data.get("annotations", ""))],
        ["data fingerprint (SHA-256)", str(data.get("fingerprint_sha256", ""))],
        ["runs", str(len(study.get("runs") or []))], ["created", _created(study)],
    ]))
    flow.append(Paragraph("Models", st["h2"]))
    mrows = [["name", "version", "weights SHA-256", "classes (threshold)"]]
    for m in study.get("models", []):
        classes = ", ".join(f"{c} ({t:.2f})" for c, t in zip(m.get("classes", []), m.get("thresholds", []),
                                                              strict=False))
        mrows.append([str(m.get("name", "")), str(m.get("version", "")), str(m.get("sha256", "")), classes])
    flow.append(table(mrows, [0.2 * FRAME_WIDTH, 0.09 * FRAME_WIDTH, 0.35 * FRAME_WIDTH, 0.36 * FRAME_WIDTH],
                      padding=3))
    flow.append(Paragraph("Runs (timings)", st["h2"]))
    rrows = [["started (UTC)", "mode", "workers", "device", "status", "to do", "done", "failed", "seconds",
              "img/s", "nodes"]]
    for r in study.get("runs", []):
        rrows.append([str(r.get(k, "")).replace("+00:00", "").replace("T", " ") if r.get(k) is not None else "" for k in
                      ("started", "mode", "workers", "device", "status", "images_to_do", "done", "failed", "seconds",
                       "images_per_s", "nodes_used")])
    fw = FRAME_WIDTH
    flow.append(table(rrows, [0.17 * fw, 0.1 * fw, 0.09 * fw, 0.08 * fw, 0.1 * fw, 0.07 * fw, 0.07 * fw, 0.07 * fw,
                              0.1 * fw, 0.07 * fw, 0.08 * fw], padding=2))
    coded = [r for r in study.get("runs", []) if isinstance(r.get("radlens"), dict)]
    if coded:  # the code that computed each run's rows (runs before RadLens recorded it are not listed)
        crows = [["started (UTC)", "RadLens", "git commit of the source checkout"]]
        crows += [[str(r.get("started", "")).replace("+00:00", "").replace("T", " "),
                   str(r["radlens"].get("version", "")), str(r["radlens"].get("commit", "")) or "(installed)"]
                  for r in coded]
        flow.append(table(crows, [0.2 * fw, 0.12 * fw, 0.68 * fw], padding=2))
    versions = study.get("versions", {})
    flow.append(Paragraph("Software", st["h2"]))
    vrows = [[k, str(v)] for k, v in sorted(versions.items())] + [["platform", str(study.get("platform", ""))]]
    flow.append(pairs_table(vrows))
    flow.append(Paragraph("Configuration (study.json)", st["h2"]))
    metrics = list(cfg.get("metrics") or [])
    shown = {k: cfg[k] for k in ("models", "methods", "metrics") if k in cfg}
    shown["data"] = cfg.get("data", {})
    if "localisation" in metrics:
        shown.update({k: cfg[k] for k in ("top_fractions", "fraction_of_max", "otsu", "policies",
                                          "pointing_tolerance_px", "box_mode") if k in cfg})
    blocks = {k: v for k, v in (cfg.get("blocks") or {}).items() if k in metrics and v}
    if blocks:
        shown["blocks"] = blocks
    shown["batch_size"] = cfg.get("batch_size")
    text = yaml.safe_dump(json.loads(json.dumps(shown, default=str)), sort_keys=False, width=100,
                          default_flow_style=None)
    mono = ParagraphStyle("mono", parent=st["small"], fontName=MONO, fontSize=6.8, leading=8.2,
                          textColor=colors.HexColor("#222222"))
    flow.append(Paragraph(esc(text).replace("\n", "<br/>").replace("  ", "&nbsp;&nbsp;"), mono))
    return flow


def _figure_flowables(path: Path, st: dict[str, Any], number: int) -> list[Any]:
    import numpy as np
    from PIL import Image as PILImage
    from reportlab.platypus import KeepTogether, Paragraph, Spacer

    from engine.report.layout import FRAME_WIDTH, bitmap, esc

    with PILImage.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    width = min(FRAME_WIDTH, rgb.shape[1] * 0.72)  # 100 dpi figures: never enlarged past ~1.4x
    max_height = 560.0
    if width * rgb.shape[0] / rgb.shape[1] > max_height:
        width = max_height * rgb.shape[1] / rgb.shape[0]
    caption = FIGURE_CAPTIONS.get(path.name, "Figure of this study.")
    return [KeepTogether([bitmap(rgb, width), Spacer(1, 3),
                          Paragraph(f"<b>Figure {number}</b> ({esc(path.name)}). {esc(caption)}", st["small"]),
                          Spacer(1, 10)])]


def _failures(out: Path, st: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import Paragraph

    from engine.report.layout import FRAME_WIDTH, esc, table
    from training.study.data import NOT_STUDIED
    from training.study.store import read_failures

    listed = read_failures(out)
    failures = {f: r for f, r in listed.items() if not r.startswith(NOT_STUDIED)}
    not_studied = len(listed) - len(failures)
    flow: list[Any] = [Paragraph("Failures", st["h1"])]
    if not_studied:
        flow.append(Paragraph(f"{not_studied} entr{'y' if not_studied == 1 else 'ies'} of the data set could not be "
                              "studied (an image without annotations, an annotated id without an image, files "
                              "sharing one id, a split entry matching no image): OUT/failures.csv, reason "
                              "'not studied: ...'.", st["body"]))
    if not failures:
        return [*flow, Paragraph("No image failed.", st["body"])]
    by_kind: dict[str, int] = {}
    for reason in failures.values():
        kind = reason.split(":", 1)[0] if ":" in reason else reason
        by_kind[kind] = by_kind.get(kind, 0) + 1
    flow.append(Paragraph(f"{len(failures)} image(s) failed (OUT/failures.csv; "
                          f"{', '.join(f'{k}: {n}' for k, n in sorted(by_kind.items()))}): an image that failed "
                          "is left out of every table, except, with several models, the rows of the models that "
                          "did not fail. They are tried again with --resume.", st["body"]))
    rows = [["file", "reason"]] + [[f, r] for f, r in sorted(failures.items())[:MAX_FAILURES_LISTED]]
    flow.append(table(rows, [0.35 * FRAME_WIDTH, 0.65 * FRAME_WIDTH], padding=2.5))
    if len(failures) > MAX_FAILURES_LISTED:
        flow.append(Paragraph(esc(f"The first {MAX_FAILURES_LISTED} of {len(failures)} are listed."), st["small"]))
    return flow


def _models_text(study: dict[str, Any]) -> str:
    models = study.get("models", [])
    return str(models[0].get("name", "")) if len(models) == 1 else f"{len(models)} models"


def render_report(out: str | Path) -> bytes:
    """The study report of ``out`` as PDF bytes (see the module docstring); reads only stored files.

    Raises:
        StudyError: ``out`` holds no readable ``study.json``.
    """
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    from engine.report.layout import MARGIN_BOTTOM, MARGIN_TOP, MARGIN_X, PAGE, numbered_canvas, register_fonts
    from engine.report.model import STATEMENT
    from training.study.report import read_study_json

    folder = Path(out)
    study = read_study_json(folder)
    register_fonts()
    _register_mono()
    from engine.report.layout import styles

    st = _cell_style(styles())
    cfg = study.get("study", {})
    name = str(cfg.get("name") or folder.name)
    flow = _title_page(study, folder, st)
    tables = sorted((folder / "tables").glob("*.csv"))
    flow += [PageBreak(), Paragraph("Tables", st["h1"]),
             Paragraph("Aggregated from the Parquet store (OUT/results) by radlens study; numbers rounded to 3 "
                       "decimals (the CSVs in OUT/tables hold 6). std = sample standard deviation; empty = not "
                       "defined (n < 2, no positive image, ...).", st["small"])]
    for i, path in enumerate(tables, 1):
        header, rows = _read_csv(path)
        flow.append(Paragraph(f"Table {i}: {path.name}", st["h2"]))
        if path.name in TABLE_NOTES:
            flow.append(Paragraph(TABLE_NOTES[path.name], st["note"]))
        flow += _table_flowables(path.name, header, rows, st)
    figures = sorted((folder / "figures").glob("*.png"))
    if figures:
        flow += [PageBreak(), Paragraph("Figures", st["h1"])]
        for i, path in enumerate(figures, 1):
            flow += _figure_flowables(path, st, i)
    flow += [Spacer(1, 8), *_failures(folder, st)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=PAGE, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                            bottomMargin=MARGIN_BOTTOM, title=f"RadLens study report: {name}",
                            subject=f"Dataset study {name}. {STATEMENT}.", creator="RadLens",
                            keywords="RadLens, study", invariant=1)
    canvas = numbered_canvas(header_left=f"RadLens study: {name}", header_right=f"Run started {_created(study)}",
                             footer_mid=_models_text(study),
                             statement=STATEMENT)
    doc.build(flow, canvasmaker=canvas)
    return buf.getvalue()


def write_report(out: str | Path) -> Path:
    """Write ``OUT/report.pdf`` atomically; returns its path."""
    path = Path(out) / REPORT_PDF
    atomic_write_bytes(path, render_report(out))
    return path
