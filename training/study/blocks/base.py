"""What a metric block of a study is: its study-file sections, per-image rows, tables and figures.

A block (``localisation``, ``robustness``, ``sanity``) declares

* the study-file sections it owns and how they are validated (:meth:`Block.validate`, problems
  collected with their line numbers like every other entry);
* the result columns it fills (:attr:`Block.columns`, appended to the store's schema);
* its per-image work (:meth:`Block.image_rows`: one row per task x class, the common columns from
  :func:`common_row`);
* its tables (:meth:`Block.tables`, aggregated from the store's rows alone) and figures (drawn from
  those tables).

Blocks never import Qt; heavy imports (torch, the engine's explainers) happen inside the methods.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from training.study.config import StudyConfig
    from training.study.data import WorkItem
    from training.study.score import ModelPlan, Task


class ImageJob:
    """One decoded image with one model: what a block's per-image work receives.

    The image's forward is shared by the blocks and run at most once: the first explanation of the
    clean image (:meth:`explain`) hands over its logits (the engine's explainers report the clean
    image's scores from their own forward, bit-identical to a plain forward in float32), and only a
    job that no explanation ran for (an image without boxes, a block that explains nothing) runs a
    forward of its own when :attr:`probabilities` or :attr:`logits` is first read.

    Args:
        model: The loaded model (:class:`engine.models.bundle.LoadedModel`).
        plan: Its plan (identity, classes, thresholds, tasks).
        item: The image's labels and boxes.
        image: Its decoded display pixels.
        probabilities: The model's class probabilities on the image, if already known.
        logits: That forward's logits, if already known.
    """

    def __init__(self, model: Any, plan: ModelPlan, item: WorkItem, image: np.ndarray,
                 probabilities: np.ndarray | None = None, logits: np.ndarray | None = None) -> None:
        self.model = model
        self.plan = plan
        self.item = item
        self.image = image
        self._probabilities = probabilities
        self._logits = logits
        #: Forwards this job ran itself (0 when an explanation's forward was reused; at most 1).
        self.forwards = 0

    @property
    def logits(self) -> np.ndarray:
        """The model's raw outputs on the image, float64 (a forward on first use when none is known)."""
        if self._logits is None:
            from training.study.score import forward_logits

            self._logits = forward_logits(self.model, self.image)
            self.forwards += 1
        return self._logits

    @property
    def probabilities(self) -> np.ndarray:
        """Class probabilities on the image (sigmoid for multi-label, softmax for multi-class)."""
        if self._probabilities is None:
            from training.study.score import probabilities_of

            self._probabilities = probabilities_of(self.model, self.logits)
        return self._probabilities

    def explain(self, method: str, classes: Sequence[str] | None = None, layers: Sequence[str] | None = None,
                **params: Any) -> Any:
        """``engine.explain`` of the clean image with this job's model; its forward becomes the job's.

        The logits are taken over only while none are known, for a classification head, and when the
        explanation ran in float32 (CUDA autocast gives other scores than the study's float32 forward).
        """
        from engine import explain

        result = explain(self.model, self.image, method=method, classes=classes, layers=layers, **params)
        self._adopt(result)
        return result

    def _adopt(self, result: Any) -> None:
        """Take over an explanation's forward as the job's (see :meth:`explain`)."""
        if (self._logits is None and self._probabilities is None and result.precision == "fp32"
                and self.model.manifest.task in ("multilabel", "multiclass")):
            self._logits = np.asarray(result.logits, dtype=np.float32).astype(np.float64)

    def explain_tasks(self, tasks: Sequence[Task], classes: Sequence[str] | None = None) -> list[Any]:
        """The explanation of each task (aligned with ``tasks``), with one run per method and parameters.

        Tasks that differ only in their layer are explained together by
        :func:`engine.explainers.api.explain_layers` (one forward and backward for every layer of a CAM
        method; each result equals the task's own single-layer run); the first run's forward becomes
        the job's, as in :meth:`explain`.
        """
        from engine.explainers.api import explain_layers

        groups: dict[tuple[str, str], list[int]] = {}
        for i, task in enumerate(tasks):
            groups.setdefault((task.method, json.dumps(task.params, sort_keys=True)), []).append(i)
        out: list[Any] = [None] * len(tasks)
        for indices in groups.values():
            layers = [tasks[i].layer for i in indices]
            first = tasks[indices[0]]
            if len(indices) < 2 or not all(layers):
                for i in indices:
                    out[i] = self.explain(tasks[i].method, classes=classes,
                                          layers=[tasks[i].layer] if tasks[i].layer else None, **tasks[i].params)
                continue
            results = explain_layers(self.model, self.image, first.method, layers, classes, **first.params)
            self._adopt(next(iter(results.values())))
            for i in indices:
                out[i] = results[tasks[i].layer]
        return out


def common_row(job: ImageJob, task: Task, class_index: int) -> dict[str, Any]:
    """The key and classification columns every block's row starts with."""
    plan = job.plan
    c = plan.class_names[class_index]
    p = float(job.probabilities[class_index])
    return {
        "image": job.item.image, "model": plan.sha256, "model_name": plan.name, "model_version": plan.version,
        "block": task.block, "method": task.method, "layer": task.layer, "params_hash": task.params_hash,
        "params": json.dumps(task.params, sort_keys=True), "class": c, "probability": p,
        "label": int(job.item.labels.get(c, 0)), "predicted": bool(p >= plan.thresholds[class_index]),
    }


class Block(ABC):
    """A metric block (see the module docstring). Subclasses are registered in :mod:`training.study.blocks`."""

    #: Name used in the study file's ``metrics`` list and in the ``block`` result column.
    name: ClassVar[str]
    #: Top-level study-file sections this block owns -> the keys accepted in each.
    sections: ClassVar[dict[str, tuple[str, ...]]]
    #: Result columns this block fills (besides the common ones).
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]]

    @abstractmethod
    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate this block's sections of the study document.

        Args:
            v: The study validator (``training.study.config._Validator``): ``mapping``, ``choice``,
                ``number``, ``strings``, ``bad`` record problems with their line numbers.
            doc: The whole study document.

        Returns:
            The block's settings (JSON-ready, defaults filled in); meaningless when problems were recorded.
        """

    def settings_of(self, cfg: StudyConfig) -> dict[str, Any]:
        """The block's settings in a validated study (JSON-ready; part of every row's parameters hash)."""
        return dict(cfg.blocks.get(self.name, {}))

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """What of the settings enters the parameters hash (default: all of them and the block name)."""
        return {"block": self.name, **settings}

    def check_model(self, model: Any, settings: dict[str, Any]) -> list[str]:
        """Problems of running this block on ``model`` (found before any image is processed)."""
        return []

    @abstractmethod
    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of one image for ``tasks`` (this block's tasks still to do): one per task x class.

        Raises:
            Exception: Whatever the model or explainer raises; the caller records it as a failure.
        """

    @abstractmethod
    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """CSV file name -> text, aggregated from this block's stored rows only."""

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """Figures drawn from this block's tables in ``out/tables`` (default: none)."""
        return []
