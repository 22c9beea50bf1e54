"""The ``gaze`` block: saliency-vs-gaze metrics (KL, CC, SIM, NSS, AUC-Judd) of every class map.

Where an image has a gaze recording beside it (``<stem>.gaze.npz``, :func:`training.gaze.find_gaze`;
``radlens phantom --gaze`` writes simulated ones), each class map of each method x layer (image
pixels, the engine's per-map min-max normalisation) is scored against it with
:func:`training.gaze.gaze_scores` (the density and fixation maps rendered on the map's grid, then
:func:`engine.localise.saliency.saliency_scores`). Images without a recording are still stored (rows
with empty metrics, so ``--resume`` skips them) but are not explained and contribute nothing to the
table.

Table ``gaze.csv``: per explanation x class (and ``all``, every scored map), n and mean / sample std
of each metric over images.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import EXPLANATION, by_explanation, fmt, mean_std

if TYPE_CHECKING:
    from training.study.score import Task

#: Metric name (as :func:`training.gaze.gaze_scores` returns it) -> result column.
METRICS = {"kl": "gaze_kl", "cc": "gaze_cc", "sim": "gaze_sim", "nss": "gaze_nss", "auc_judd": "gaze_auc_judd"}
ALL_CLASSES = "all"


class GazeBlock(Block):
    """Saliency-vs-gaze metrics of every class map on images with a gaze recording."""

    name = "gaze"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("has_gaze", pa.bool_()), *((col, pa.float64()) for col in METRICS.values()),
    )

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The block name, and KL's rule for an all-zero map (the uniform distribution, as every constant
        map): rows scored under the older rule have another parameters hash, so a resume never mixes them."""
        return {"block": self.name, **settings, "kl_zero_map": "uniform"}

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """The block has no settings of its own (it scores the study's methods x layers)."""
        return {}

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per task x class; scored when the image has a gaze recording.

        Raises:
            GazeFormatError: The image's gaze file exists but cannot be read (the image is a failure).
        """
        from training.gaze import find_gaze, gaze_scores

        rec = find_gaze(job.item.path)
        classes = job.plan.class_names
        rows: list[dict[str, Any]] = []
        results = job.explain_tasks(tasks) if rec is not None else [None] * len(tasks)
        for task, result in zip(tasks, results, strict=True):
            for ci, c in enumerate(classes):
                row = common_row(job, task, ci)
                row["has_gaze"] = rec is not None
                row.update({col: None for col in METRICS.values()})
                if result is not None and rec is not None:
                    scores = gaze_scores(result.map(c, "image"), rec)
                    row.update({col: float(scores[m]) for m, col in METRICS.items()})
                rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``gaze.csv`` (see the module docstring)."""
        body = []
        for key, group in by_explanation(rows):
            scored = [r for r in group if r.get("has_gaze")]
            per_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in scored:
                per_class[str(r["class"])].append(r)
            per_class[ALL_CLASSES] = scored
            for cls in [*sorted(c for c in per_class if c != ALL_CLASSES), ALL_CLASSES]:
                line: list[Any] = [*key, cls]
                for col in METRICS.values():
                    mean, std, n = mean_std([r[col] for r in per_class[cls]])
                    line += [n, fmt(mean), fmt(std)]
                body.append(line)
        header = [*EXPLANATION, "class"]
        for m in METRICS:
            header += [f"{m}_n", f"{m}_mean", f"{m}_std"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(body)
        return {"gaze.csv": buf.getvalue()}
