"""The ``classification`` block: AUC and calibration (ECE, MCE, Brier, reliability diagram).

Per image, model and class the block stores the logit (one forward of the model, as the engine
computes it), the probability, the label, the model's task (``multilabel`` / ``multiclass``) and the
split subset the image belongs to (``val`` / ``test`` / ``train`` from the study's split file; empty
without one). Rows are written per method x layer like every block's (the classification figures do
not depend on them); the tables take one row per (model, image, class).

Tables, aggregated from the store alone (:func:`training.metrics.calibration_report`,
:func:`training.calibration.fit_temperature` / :func:`~training.calibration.calibrated_probabilities`):

* ``calibration.csv``: per model x class and pooled (``all``: every (image, class) forecast for
  multi-label, top-label for multi-class; AUC is the mean of the classes' AUCs): n, positives, AUC,
  ECE, MCE, Brier before and after temperature scaling, the temperature and where it comes from;
* ``reliability.csv``: the reliability-diagram bins (``classification.bins`` equal-width bins,
  default 15) of each model x class and pooled, raw and temperature-scaled.

Temperature: with a split file and validation rows in the store (``data.split.subset: [val, test]``),
T is fitted per model on the ``val`` rows and the metrics are reported on the ``test`` rows. Without a
split file, or without validation rows, no temperature is fitted: every stored row is evaluated, the
``temperature`` column is empty and ``temperature_source`` says why.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import auc, csv_text, fmt

if TYPE_CHECKING:
    from training.study.config import StudyConfig
    from training.study.score import Task

DEFAULT_BINS = 15
FIT_SUBSET = "val"
EVAL_SUBSET = "test"
ALL_CLASSES = "all"
_MODEL_KEY = ("model", "model_name")


def unique_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, image, class): the first in (method, layer, params hash) order."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: (str(r["method"]), str(r["layer"]), str(r["params_hash"]))):
        seen.setdefault((str(r["model"]), str(r["image"]), str(r["class"])), r)
    return [seen[k] for k in sorted(seen)]


def matrices(
    rows: list[dict[str, Any]], classes: Sequence[str],
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(images, logits, probabilities, labels) as ``(N, C)`` arrays from one model's unique rows."""
    images = sorted({str(r["image"]) for r in rows})
    index = {im: i for i, im in enumerate(images)}
    col = {c: j for j, c in enumerate(classes)}
    z = np.full((len(images), len(classes)), np.nan)
    p = np.full_like(z, np.nan)
    y = np.zeros_like(z)
    for r in rows:
        i, j = index[str(r["image"])], col[str(r["class"])]
        z[i, j], p[i, j], y[i, j] = float(r["logit"]), float(r["probability"]), float(r["label"])
    return images, z, p, y


def _scaled(z: np.ndarray, temperature: float, task: str) -> np.ndarray:
    import torch

    from training.calibration import calibrated_probabilities

    return calibrated_probabilities(torch.from_numpy(z), temperature, task).numpy()


def _fit(z: np.ndarray, y: np.ndarray, task: str) -> float:
    import torch

    from training.calibration import fit_temperature

    return fit_temperature(torch.from_numpy(z), torch.from_numpy(y), task)


class ClassificationBlock(Block):
    """AUC, ECE, MCE, Brier and reliability diagrams per model x class, with temperature scaling."""

    name = "classification"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"classification": ("bins",)}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("logit", pa.float64()), ("split", pa.string()), ("task", pa.string()),
    )

    def __init__(self) -> None:
        #: split file -> image id -> subset (read once per process).
        self._splits: dict[str, dict[str, str]] = {}

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``classification: {bins}``."""
        sec = v.mapping(doc.get("classification"), "classification", self.sections["classification"])
        bins = sec.get("bins", DEFAULT_BINS)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            v.bad("classification.bins", f"{bins!r} is not allowed", "an integer >= 1 (default 15)")
            bins = DEFAULT_BINS
        return {"bins": int(bins)}

    def settings_of(self, cfg: StudyConfig) -> dict[str, Any]:
        """The bins and the study's split file (absolute; empty without one)."""
        settings = dict(cfg.blocks.get(self.name, {"bins": DEFAULT_BINS}))
        split = ""
        if cfg.data.split_file:
            path = Path(cfg.data.split_file)
            if not path.is_absolute() and cfg.data.folder:
                path = Path(cfg.data.folder) / path
            split = str(path.resolve())
        settings["split_file"] = split
        return settings

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The block name only: the bins only change the tables. Rows store their image's split subset,
        and a resume under another split file is refused (:func:`training.study.report.check_resume`)."""
        return {"block": self.name}

    def subset_of(self, image_path: str, split_file: str) -> str:
        """The split subset an image belongs to (empty without a split file or when it is in none)."""
        if not split_file:
            return ""
        from engine.annotations import image_key

        if split_file not in self._splits:
            doc = json.loads(Path(split_file).read_text(encoding="utf-8"))
            self._splits[split_file] = {image_key(str(i)): str(s) for s, ids in doc.items()
                                        if isinstance(ids, list) for i in ids}
        return self._splits[split_file].get(image_key(Path(image_path).name), "")

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per task x class with the logit, the task and the image's split subset."""
        logits = job.logits  # the image's shared forward
        subset = self.subset_of(job.item.path, str(settings.get("split_file", "")))
        rows = []
        for task in tasks:
            for ci in range(len(job.plan.class_names)):
                row = common_row(job, task, ci)
                row.update({"logit": float(logits[ci]), "split": subset, "task": str(job.model.manifest.task)})
                rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``calibration.csv`` and ``reliability.csv`` (see the module docstring)."""
        from training.metrics import calibration_report

        bins = int(settings.get("bins", DEFAULT_BINS))
        cal_body: list[list[Any]] = []
        rel_body: list[list[Any]] = []
        unique = unique_rows(rows)
        with_split = any(r.get("split") for r in unique)  # the rows say it: study.json keeps no split path
        models = sorted({tuple(str(r[k]) for k in _MODEL_KEY) for r in unique})
        for key in models:
            mrows = [r for r in unique if tuple(str(r[k]) for k in _MODEL_KEY) == key]
            classes = sorted({str(r["class"]) for r in mrows})
            task = str(mrows[0]["task"])
            fit_rows = [r for r in mrows if r["split"] == FIT_SUBSET]
            eval_rows = [r for r in mrows if r["split"] == EVAL_SUBSET]
            temperature: float | None = None
            if not with_split:
                source, evaluated, ev = "none: the study's data has no split file (data.split: all)", "all", mrows
            elif not fit_rows:
                source = "none: no validation rows in the store (run with data.split.subset: [val, test])"
                evaluated, ev = ("test", eval_rows) if eval_rows else ("all", mrows)
            else:
                _im, zf, _pf, yf = matrices(fit_rows, classes)
                temperature = _fit(zf, yf, task)
                source = f"fitted on the val split ({len(_im)} images)"
                evaluated, ev = "test", eval_rows
            _images, z, p, y = matrices(ev, classes)
            reports = {"raw": calibration_report(p, y, classes, task, bins)}
            if temperature is not None:
                reports["temperature"] = calibration_report(_scaled(z, temperature, task), y, classes, task, bins)
            aucs = {c: auc(y[:, j].astype(int).tolist(), p[:, j].tolist()) for j, c in enumerate(classes)}
            finite = [a for a in aucs.values() if a is not None]
            aucs[ALL_CLASSES] = float(np.mean(finite)) if finite else None
            for j, c in enumerate([*classes, ALL_CLASSES]):
                part = "pooled" if c == ALL_CLASSES else None
                raw = reports["raw"][part] if part else reports["raw"]["per_class"][c]
                cal = (reports["temperature"][part] if part else reports["temperature"]["per_class"][c]) \
                    if "temperature" in reports else None
                positives = int(y.sum()) if c == ALL_CLASSES else int(y[:, j].sum())
                cal_body.append([*key, c, task, evaluated, int(y.shape[0]), positives, fmt(aucs[c]), bins,
                                 fmt(raw["ece"]), fmt(raw["mce"]), fmt(raw["brier"]), fmt(temperature), source,
                                 fmt(cal["ece"]) if cal else "", fmt(cal["mce"]) if cal else "",
                                 fmt(cal["brier"]) if cal else ""])
                for scaling, rep in reports.items():
                    diagram = (rep[part] if part else rep["per_class"][c])["diagram"]
                    for b in diagram.rows():
                        rel_body.append([*key, c, scaling, b["bin"], fmt(b["lower"]), fmt(b["upper"]),
                                         fmt(b["confidence"]), fmt(b["accuracy"]), b["count"]])
        return {
            "calibration.csv": csv_text([*_MODEL_KEY, "class", "task", "evaluated", "n_images", "positives", "auc",
                                     "bins", "ece", "mce", "brier", "temperature", "temperature_source",
                                     "ece_calibrated", "mce_calibrated", "brier_calibrated"], cal_body),
            "reliability.csv": csv_text([*_MODEL_KEY, "class", "scaling", "bin", "lower", "upper", "confidence",
                                     "accuracy", "count"], rel_body),
        }

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """``reliability.png``: the pooled reliability diagram of each model (raw and temperature-scaled)."""
        figure = reliability_figure(Path(out))
        return [figure] if figure is not None else []


def reliability_figure(out: Path) -> Path | None:
    """Draw ``OUT/figures/reliability.png`` from ``OUT/tables/reliability.csv`` (class ``all``).

    One column per model. Top: observed frequency against mean confidence per bin, raw and
    temperature-scaled, each marker's area growing with the bin's forecast count (a bin of three
    forecasts is no evidence of miscalibration), the legend with the ECE of each curve and the
    temperature from ``calibration.csv``. Below: how many forecasts each bin holds (log scale), the
    confidence histogram that Guo et al. (2017) show beside the diagram.

    Returns:
        The figure, or None when the table has no pooled bin with forecasts.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    from training.study.figures import save_figure

    table = Path(out) / "tables" / "reliability.csv"
    if not table.is_file():
        return None
    panels: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
    counts: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
    with table.open(newline="", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["class"] != ALL_CLASSES:
                continue
            counts.setdefault(r["model_name"], {}).setdefault(r["scaling"], []).append(
                (float(r["lower"]), float(r["upper"]), int(r["count"])))
            if r["confidence"] and int(r["count"]) > 0:
                panels.setdefault(r["model_name"], {}).setdefault(r["scaling"], []).append(
                    (float(r["confidence"]), float(r["accuracy"]), int(r["count"])))
    if not panels:
        return None
    summary = _pooled_calibration(Path(out) / "tables" / "calibration.csv")
    fig = Figure(figsize=(4.6 * len(panels), 5.6), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, len(panels), height_ratios=(3.0, 1.1))
    for k, (model_name, curves) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(grid[0, k])
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
        most = max(n for points in curves.values() for _c, _a, n in points)
        info = summary.get(model_name, {})
        colours: dict[str, str] = {}
        for scaling, points in sorted(curves.items()):
            scaled = scaling == "temperature"
            ece = info.get("ece_calibrated" if scaled else "ece", "")
            label = (f"temperature-scaled, T = {float(info['temperature']):.3g}" if scaled and info.get("temperature")
                     else "temperature-scaled" if scaled else "raw")
            if ece:
                label += f" (ECE {float(ece):.4f})"
            line, = ax.plot([c for c, _a, _n in points], [a for _c, a, _n in points], linewidth=1.2, label=label)
            colours[scaling] = to_hex(line.get_color())
            ax.scatter([c for c, _a, _n in points], [a for _c, a, _n in points], color=line.get_color(),
                       s=[10 + 90 * (n / most) ** 0.5 for _c, _a, n in points], zorder=3)
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.04), ylabel="observed frequency",
               title=f"{model_name}\nall classes pooled (marker area: forecasts in the bin)")
        ax.title.set_fontsize(9)
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=7, loc="upper left")
        hist = fig.add_subplot(grid[1, k], sharex=ax)
        for i, (scaling, bins) in enumerate(sorted(counts.get(model_name, {}).items())):
            width = [(hi - lo) / 2 for lo, hi, _n in bins]  # two bars side by side in each bin
            hist.bar([lo + i * w for (lo, _hi, _n), w in zip(bins, width, strict=True)], [n for _lo, _hi, n in bins],
                     width=width, align="edge", color=colours.get(scaling, f"C{i}"), alpha=0.8)
        hist.set_yscale("log")
        hist.set(xlabel="mean confidence (bin)", ylabel="forecasts")
    return save_figure(fig, out, "reliability.png")


def _pooled_calibration(path: Path) -> dict[str, dict[str, str]]:
    """Model name -> its pooled (class ``all``) row of ``calibration.csv`` (empty when absent)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["model_name"]: r for r in csv.DictReader(handle) if r["class"] == ALL_CLASSES}
