"""The ``regression`` block: MAE, RMSE, R² and Pearson r of a regression model's outputs.

For a model with ``task: regression`` each image's predicted values (the raw outputs of the forward
the study already runs) are stored beside the image's targets, read from a CSV in the data folder
(``regression.targets``, default ``targets.csv``, which ``radlens phantom`` writes with the
cardiothoracic ratio): one row per image (``image_id`` = file stem), one column per output, named
by ``regression.columns`` (output name -> column; by default the output name in lower case with
spaces as underscores, so "Cardiothoracic ratio" reads ``cardiothoracic_ratio``). An image without
a target row is stored with an empty target and left out of the table.

Study file::

    metrics: [regression]
    regression:
      targets: targets.csv
      columns: {Cardiothoracic ratio: cardiothoracic_ratio}

Table ``regression.csv``: per model x output, n, unit, MAE, RMSE, R² (1 - SS_res / SS_tot) and
Pearson r (:func:`training.metrics.regression_metrics`), over the images with a target, one row per
image whatever the number of methods.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import csv_text, fmt

if TYPE_CHECKING:
    from training.study.config import StudyConfig
    from training.study.score import Task

DEFAULT_TARGETS = "targets.csv"
_MODEL_KEY = ("model", "model_name")


def default_column(output: str) -> str:
    """The targets column an output reads by default ("Cardiothoracic ratio" -> ``cardiothoracic_ratio``)."""
    return output.strip().lower().replace(" ", "_")


class RegressionBlock(Block):
    """Predicted value against the target per image and output; MAE, RMSE, R², Pearson r per output."""

    name = "regression"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"regression": ("targets", "columns")}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("value", pa.float64()), ("target", pa.float64()), ("unit", pa.string()),
    )

    def __init__(self) -> None:
        self._targets: dict[str, dict[str, dict[str, str]]] = {}

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``regression: {targets, columns}``."""
        sec = v.mapping(doc.get("regression"), "regression", self.sections["regression"])
        targets = sec.get("targets", DEFAULT_TARGETS)
        if not isinstance(targets, str) or not targets:
            v.bad("regression.targets", f"{targets!r} is not allowed", "a CSV path relative to the data folder")
            targets = DEFAULT_TARGETS
        columns = sec.get("columns", {})
        if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(c, str)
                                                     for k, c in columns.items()):
            v.bad("regression.columns", "must map output names to CSV columns", "{output name: column}")
            columns = {}
        return {"targets": targets, "columns": dict(columns)}

    def settings_of(self, cfg: StudyConfig) -> dict[str, Any]:
        """The block's settings with the targets CSV made absolute (relative to the data folder)."""
        settings = dict(cfg.blocks.get(self.name, {"targets": DEFAULT_TARGETS, "columns": {}}))
        path = Path(str(settings.get("targets", DEFAULT_TARGETS)))
        if not path.is_absolute() and cfg.data.folder:
            path = Path(cfg.data.folder) / path
        settings["targets"] = str(path)
        return settings

    def check_model(self, model: Any, settings: dict[str, Any]) -> list[str]:
        """Only regression models have values to score."""
        if model.manifest.task != "regression":
            return [f"the regression block needs a model with task 'regression' ({model.name} is "
                    f"{model.manifest.task})"]
        return []

    def target_of(self, settings: dict[str, Any], image_path: str, output: str) -> float | None:
        """The target of ``output`` for an image, or None when the CSV has no row or cell for it.

        Raises:
            FileNotFoundError: The targets CSV does not exist (the image is recorded as a failure).
        """
        from engine.annotations import image_key

        path = str(settings.get("targets", DEFAULT_TARGETS))
        if path not in self._targets:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                self._targets[path] = {image_key(str(r.get("image_id", ""))): r for r in csv.DictReader(handle)}
        row = self._targets[path].get(image_key(Path(image_path).name))
        column = dict(settings.get("columns", {})).get(output, default_column(output))
        if row is None or not str(row.get(column, "") or "").strip():
            return None
        return float(row[column])

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per task x output: the predicted value (raw output), the target and the unit."""
        values = job.logits  # the image's shared forward
        manifest = job.model.manifest
        rows = []
        for task in tasks:
            for ci, name in enumerate(job.plan.class_names):
                row = common_row(job, task, ci)
                row.update({"value": float(values[ci]), "target": self.target_of(settings, job.item.path, name),
                            "unit": manifest.unit(ci)})
                rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``regression.csv`` (see the module docstring)."""
        import numpy as np

        from training.metrics import regression_metrics

        first: dict[tuple[str, ...], dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: (str(r["method"]), str(r["layer"]), str(r["params_hash"]))):
            first.setdefault((*(str(r[k]) for k in _MODEL_KEY), str(r["class"]), str(r["image"])), r)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for key, r in sorted(first.items()):
            if r.get("target") is not None and r.get("value") is not None:
                groups.setdefault(key[:3], []).append(r)
        body = []
        for key, group in groups.items():
            t = np.array([float(r["target"]) for r in group])
            p = np.array([float(r["value"]) for r in group])
            m = regression_metrics(t, p)
            body.append([*key, group[0].get("unit") or "", m["n"], fmt(m["mae"]), fmt(m["rmse"]), fmt(m["r2"]),
                         fmt(m["pearson_r"]), fmt(float(t.mean())), fmt(float(p.mean()))])
        header = [*_MODEL_KEY, "output", "unit", "n", "mae", "rmse", "r2", "pearson_r", "target_mean", "value_mean"]
        return {"regression.csv": csv_text(header, body)}
