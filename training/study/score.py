"""The per-image work of a study: decode an image, then let each metric block explain and score it.

The same functions run in-process (``--workers 0``) and inside the Ray actors, so both give
identical rows. The blocks live in :mod:`training.study.blocks`; the localisation scoring of one
map (:func:`score_class`) is here and calls the engine's public localisation functions
(:func:`engine.localise.map_to_boxes`, :func:`~engine.localise.score_boxes`,
:func:`~engine.localise.pointing_game`, :func:`~engine.localise.energy_pointing_game`); nothing
here re-implements them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from training.study.data import WorkItem


@dataclass(frozen=True)
class Task:
    """One explanation of a study: a method at one layer with resolved parameters.

    Attributes:
        method: Registry name.
        layer: Resolved layer name (``""`` for input-gradient methods).
        params: Parameters with defaults filled in.
        params_hash: Hash of method, layer, params and the block's settings (the row key part).
        block: The metric block that runs it (:mod:`training.study.blocks`).
    """

    method: str
    layer: str
    params: dict[str, Any]
    params_hash: str
    block: str = "localisation"


@dataclass(frozen=True)
class ModelPlan:
    """A model of the study as the driver resolved it (everything an actor needs besides weights).

    Attributes:
        spec: The bundle as named in the study (``default`` or a folder).
        path: The bundle folder.
        sha256: SHA-256 of the weights file: the ``model`` key of every row.
        name: Model name; version: model version.
        class_names: Output classes.
        thresholds: Per-class decision thresholds from the bundle.
        tasks: The explanations to run with this model.
    """

    spec: str
    path: str
    sha256: str
    name: str
    version: str
    class_names: tuple[str, ...]
    thresholds: tuple[float, ...]
    tasks: tuple[Task, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["tasks"] = [asdict(t) for t in self.tasks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelPlan:
        """Inverse of :meth:`to_dict`."""
        tasks = tuple(Task(**t) for t in d["tasks"])
        return cls(d["spec"], d["path"], d["sha256"], d["name"], d["version"], tuple(d["class_names"]),
                   tuple(d["thresholds"]), tasks)


@dataclass(frozen=True)
class Scoring:
    """Settings of the localisation block.

    Attributes:
        thresholds: Threshold grid in the engine's string form.
        tolerance_px: Pointing-game tolerance in image pixels.
        box_mode: ``all`` components, ``largest`` or ``union``.
    """

    thresholds: tuple[str, ...]
    tolerance_px: float
    box_mode: str


def task_key(image: str, sha256: str, task: Task) -> str:
    """The resume key of one (image, model, method, layer, parameters) unit."""
    return "\t".join((image, sha256, task.method, task.layer, task.params_hash))


# --- decode (CPU tasks) ----------------------------------------------------------------------
def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """Add ``pixels`` (float32 bytes of the display image), ``shape`` (JSON), ``error`` and ``started``
    (``time.time()`` when decoding began: the run's timings) to a row.

    A file that cannot be decoded gives empty pixels and the reason in ``error``; it never raises.
    """
    from engine.io import load_image

    out = dict(row)
    out["started"] = time.time()
    try:
        display = np.ascontiguousarray(load_image(str(row["path"])).display, dtype=np.float32)
        out["pixels"], out["shape"], out["error"] = display.tobytes(), json.dumps(list(display.shape)), ""
    except Exception as exc:
        out["pixels"], out["shape"], out["error"] = b"", "[]", f"decode: {type(exc).__name__}: {exc}"
    return out


def pixels_of(row: dict[str, Any]) -> np.ndarray:
    """The display image of a decoded row."""
    shape = tuple(json.loads(row["shape"]))
    return np.frombuffer(row["pixels"], dtype=np.float32).reshape(shape)


# --- scoring ---------------------------------------------------------------------------------
def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def score_class(
    heatmap: np.ndarray, raw_map: np.ndarray, boxes_by_annotator: dict[str, list[list[float]]], scoring: Scoring
) -> dict[str, Any]:
    """Localisation figures of one class's map against its ground-truth boxes.

    Args:
        heatmap: The normalised map in image pixels (thresholds, boxes, pointing game).
        raw_map: The raw map in image pixels (energy pointing game needs the raw positive energy).
        boxes_by_annotator: Annotator -> boxes ``(x0, y0, x1, y1)`` of the class (non-empty).
        scoring: Threshold grid, pointing tolerance and box mode.

    Returns:
        ``iou_mean``/``iou_best``/``iou_fused`` (one value per threshold, grid order),
        ``n_pred_boxes`` per threshold, ``pointing``, ``pointing_tolerant``, ``energy``.
    """
    from engine.localise import energy_pointing_game, map_to_boxes, pointing_game, score_boxes

    mean, best, fused, n_pred = [], [], [], []
    for spec in scoring.thresholds:
        pred = map_to_boxes(heatmap, spec, mode=scoring.box_mode)  # type: ignore[arg-type]
        s = score_boxes(pred, boxes_by_annotator)
        mean.append(_num(s.mean))
        best.append(_num(s.best))
        fused.append(_num(s.fused))
        n_pred.append(int(s.n_pred))
    pooled = [b for bs in boxes_by_annotator.values() for b in bs]
    return {
        "iou_mean": mean, "iou_best": best, "iou_fused": fused, "n_pred_boxes": n_pred,
        "pointing": bool(pointing_game(heatmap, pooled)),
        "pointing_tolerant": bool(pointing_game(heatmap, pooled, tolerance_px=scoring.tolerance_px)),
        "energy": _num(float(energy_pointing_game(raw_map, pooled))),
    }


def forward_logits(model: Any, image: np.ndarray) -> np.ndarray:
    """The model's logits on one image (the input the engine builds), float64."""
    import torch

    from engine.preprocess import to_model_input

    x, _geometry, _scaling = to_model_input(image, model.manifest)
    with torch.no_grad():
        logits = model.module(x.to(model.device)).float().cpu()[0]
    return logits.numpy().astype(np.float64)


def probabilities_of(model: Any, logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits (sigmoid for multi-label, softmax for multi-class)."""
    import torch

    z = torch.from_numpy(np.asarray(logits, np.float32))
    probs = torch.sigmoid(z) if model.manifest.task == "multilabel" else torch.softmax(z, 0)
    return probs.numpy().astype(np.float64)


def forward_probabilities(model: Any, image: np.ndarray) -> np.ndarray:
    """Class probabilities of one image (sigmoid for multi-label, softmax for multi-class)."""
    return probabilities_of(model, forward_logits(model, image))


def image_rows(
    model: Any, plan: ModelPlan, item: WorkItem, image: np.ndarray, settings: dict[str, dict[str, Any]],
    todo: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Every row of one image for one model: each block's rows for its tasks still to do.

    The logits and probabilities come from one forward shared by the blocks: the first explanation's
    own forward, or one forward when no block explains the clean image (:class:`ImageJob`); each
    block (:mod:`training.study.blocks`) explains and scores its own tasks.

    Args:
        model: The loaded model (:class:`engine.models.bundle.LoadedModel`).
        plan: Its plan.
        item: The image's labels and boxes.
        image: Its decoded display pixels.
        settings: Block name -> the block's settings (:meth:`StudyConfig.block_settings`).
        todo: Task keys still to do (None = all).

    Raises:
        Exception: Whatever the model or explainer raises; the caller records it as a failure.
    """
    from training.study.blocks import ImageJob, get_block

    by_block: dict[str, list[Task]] = {}
    for task in plan.tasks:
        if todo is None or task_key(item.image, plan.sha256, task) in todo:
            by_block.setdefault(task.block, []).append(task)
    if not by_block:
        return []
    job = ImageJob(model, plan, item, image)  # its forward: shared by every block, run at most once
    rows: list[dict[str, Any]] = []
    for name, tasks in by_block.items():
        rows += get_block(name).image_rows(job, tasks, settings[name])
    return rows


#: Smallest factor of the explainers' automatic batches an out-of-memory retry goes down to (1/64: a
#: batch of 32 becomes 1).
MIN_BATCH_SCALE = 1 / 64


class Scorer:
    """Callable class for ``Dataset.map_batches``: loads the models once, scores each decoded image.

    Every input row gives one output row: ``image``, ``rows`` (JSON list of result rows),
    ``error`` (empty, or the reason the image failed), ``node`` (the Ray node that scored it,
    ``local`` in-process) and ``started`` (``time.time()`` when its decoding started, else when its
    batch started scoring: the run's timings). Nothing raises for one bad image.

    Args:
        plans: The study's model plans (:meth:`ModelPlan.to_dict` form).
        settings: Block name -> the block's settings (JSON-ready).
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, plans: list[dict[str, Any]], settings: dict[str, dict[str, Any]], device: str = "auto") -> None:
        from engine.models.bundle import load_model

        self.plans = [ModelPlan.from_dict(p) for p in plans]
        self.settings = settings
        self.threads = _use_assigned_cpus()
        self.models = [load_model(p.path, device=device) for p in self.plans]
        self.node = _node_id()
        #: Factor of the explainers' automatic batch sizes; halved after each out-of-memory error.
        self.batch_scale = 1.0

    def score_one(self, row: dict[str, Any]) -> dict[str, Any]:
        """Score one decoded row (see the class docstring)."""
        item = WorkItem.from_row(row)
        if row.get("error"):
            return {"image": item.image, "rows": "[]", "error": str(row["error"]), "node": self.node}
        todo = set(json.loads(row["todo"])) if row.get("todo") else None
        try:
            image = pixels_of(row)
        except Exception as exc:
            return {"image": item.image, "rows": "[]", "error": f"model: {type(exc).__name__}: {exc}",
                    "node": self.node}
        rows: list[dict[str, Any]] = []
        errors = []
        for model, plan in zip(self.models, self.plans, strict=True):
            try:  # one model's error keeps the other models' rows (its own tasks stay to do on --resume)
                rows += self._model_rows(model, plan, item, image, todo)
            except Exception as exc:
                reason = (f"CUDA out of memory with the explainers' batches cut to {self.batch_scale:g} "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                          if is_out_of_memory(exc) else f"{type(exc).__name__}: {exc}")
                errors.append(f"model: {reason}" if len(self.plans) == 1 else f"model {plan.name}: {reason}")
        return {"image": item.image, "rows": json.dumps(rows), "error": "; ".join(errors), "node": self.node}

    def _model_rows(self, model: Any, plan: ModelPlan, item: WorkItem, image: Any,
                    todo: set[str] | None) -> list[dict[str, Any]]:
        """One model's rows for one image; a CUDA out-of-memory error retries them with the explainers'
        automatic batches halved (:func:`engine.explainers.base.batch_scale`), down to
        :data:`MIN_BATCH_SCALE` (batches of one), where the error is raised to :meth:`score_one`.

        What runs out of memory is one image's explanation: the SmoothGrad samples, Score-CAM masks or
        corruptions it pushes through the network together. The scale stays cut for the rest of this
        scorer's life (the device is no larger for the next image); rows scored before, of this image's
        other models too, are kept.
        """
        from engine.explainers.base import batch_scale

        while True:
            try:
                with batch_scale(self.batch_scale):
                    return image_rows(model, plan, item, image, self.settings, todo)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                _free_device_memory()
                if self.batch_scale <= MIN_BATCH_SCALE:
                    raise
                self.batch_scale /= 2

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Score decoded rows one image at a time (:meth:`score_one`; out-of-memory retries in
        :meth:`_model_rows`). An image whose model runs out of memory with batches of one is a failure
        with the reason, and the study goes on."""
        out: list[dict[str, Any]] = []
        started = time.time()
        for row in rows:
            res = self.score_one(row)
            res["started"] = float(row.get("started") or started)
            out.append(res)
        return out

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Score a column batch (dict of equal-length columns)."""
        n = len(batch["image"])
        out: dict[str, list[Any]] = {"image": [], "rows": [], "error": [], "node": [], "started": []}
        for res in self.score_rows([{k: _plain(v[i]) for k, v in batch.items()} for i in range(n)]):
            for k in out:
                out[k].append(res[k])
        return out


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error (``torch.OutOfMemoryError`` or its message)."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()


def _free_device_memory() -> None:
    """Give cached CUDA memory back before a retry (nothing on CPU)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _use_assigned_cpus() -> int | None:
    """In a Ray actor: torch threads = the whole CPUs Ray gave it, at least 1; returns that number.

    Ray only sets ``OMP_NUM_THREADS`` when the user did not, and torch may have sized its pool
    before; this makes the actor's threads follow its reservation (two actors of 0.5 CPU on a 2-core
    machine: one thread each, not two each). Outside Ray nothing changes (None).
    """
    try:
        import ray

        if not ray.is_initialized() or ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except (ImportError, AttributeError, RuntimeError):
        return None
    import torch

    threads = max(1, math.floor(cpus or 1))
    torch.set_num_threads(threads)
    return threads


def _node_id() -> str:
    """The Ray node this process runs on (``local`` outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().get_node_id())
    except ImportError:
        pass
    return "local"


def _plain(v: Any) -> Any:
    """NumPy scalars from a Ray batch -> Python values."""
    return v.item() if isinstance(v, np.generic) else v
