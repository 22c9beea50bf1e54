"""What a report is made of: a frozen :class:`ReportInput` and the model card it summarises.

Everything the PDF shows is in a :class:`ReportInput`; the writer computes nothing that could
differ from what the viewer showed (the localisation, for one, is passed in, not recomputed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.perturb.result import PerturbationResult
from engine.report.errors import NothingExplainedError, ReportInputError

#: The statement printed on every page of every report.
STATEMENT = "Research use — not for diagnostic use"


@dataclass(frozen=True)
class ModelCard:
    """The model's identity and the summary of its card shown in a report.

    Attributes:
        name: Model name.
        version: Model version.
        architecture: Network architecture (e.g. ``resnet18``).
        task: ``multilabel`` or ``multiclass``.
        weights_sha256: SHA-256 of the weights file.
        description: One paragraph from the bundle.
        training_data: ``(label, value)`` rows describing the training data.
        metrics: ``(label, value)`` rows of reported (held-out) metrics.
    """

    name: str
    version: str
    architecture: str
    task: str
    weights_sha256: str
    description: str = ""
    training_data: tuple[tuple[str, str], ...] = ()
    metrics: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_model(cls, model: Any) -> ModelCard:
        """Build the card of a :class:`engine.models.bundle.LoadedModel`."""
        manifest = model.manifest
        prov = dict(manifest.provenance or {})
        return cls(
            name=manifest.name, version=manifest.version, architecture=manifest.architecture,
            task=manifest.task, weights_sha256=model.weights_sha256, description=manifest.description,
            training_data=_training_rows(prov), metrics=_metric_rows(prov, manifest.class_names),
        )


def _training_rows(prov: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    data = prov.get("data")
    if not isinstance(data, Mapping):
        return (("Training data", str(data)),) if data else ()
    rows = []
    if data.get("format"):
        rows.append(("Data set format", str(data["format"])))
    if data.get("n_images") is not None:
        rows.append(("Training images", str(data["n_images"])))
    positives = data.get("positives")
    if isinstance(positives, Mapping) and positives:
        rows.append(("Positives per class", ", ".join(f"{k} {v}" for k, v in positives.items())))
    if data.get("label_rule"):
        rows.append(("Label rule", str(data["label_rule"])))
    recipe = prov.get("recipe")
    if isinstance(recipe, Mapping):
        split = recipe.get("data", {}) if isinstance(recipe.get("data"), Mapping) else {}
        if split.get("val_fraction") is not None:
            rows.append(("Validation fraction", f"{split['val_fraction']:g} (patient-level split)"))
        train = recipe.get("train", {}) if isinstance(recipe.get("train"), Mapping) else {}
        if train.get("epochs"):
            rows.append(("Training", f"{train['epochs']} epochs, batch {train.get('batch_size', '?')}"))
    if prov.get("calibration"):
        rows.append(("Calibration", str(prov["calibration"])))
    if prov.get("created"):
        rows.append(("Model created", str(prov["created"])))
    return tuple(rows)


def _metric_rows(prov: Mapping[str, Any], classes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[str, str]] = []
    held = prov.get("held_out_evaluation")
    if isinstance(held, Mapping):
        n = held.get("data", {}).get("n_images") if isinstance(held.get("data"), Mapping) else None
        cls = held.get("classification", {})
        if isinstance(cls, Mapping):
            head = f"held-out test set ({n} images)" if n else "held-out test set"
            if cls.get("macro_auc") is not None:
                rows.append(("Macro AUC", f"{cls['macro_auc']:.3f} ({head})"))
            if cls.get("macro_f1") is not None:
                rows.append(("Macro F1", f"{cls['macro_f1']:.3f} ({head})"))
            for name, m in (cls.get("per_class") or {}).items():
                if isinstance(m, Mapping):
                    parts = [f"{k.upper()} {m[k]:.3f}" for k in ("auc", "f1") if isinstance(m.get(k), int | float)]
                    rows.append((f"{name}", ", ".join(parts)))
    rows += _regression_rows(prov)
    metrics = prov.get("metrics")
    if isinstance(metrics, Mapping):
        for k, v in metrics.items():
            if isinstance(v, Mapping):  # a split's summary: keep its headline numbers only
                heads = (("macro_auc", "macro AUC"), ("macro_f1", "macro F1"))
                parts = [f"{label} {v[key]:.3f}" for key, label in heads if isinstance(v.get(key), int | float)]
                if parts:
                    rows.append((f"{k} split", ", ".join(parts)))
            elif isinstance(v, bool | str | int | float):
                rows.append((str(k).replace("_", " "), f"{v:.3f}" if isinstance(v, float) else str(v)))
    return tuple(rows)


def _regression_rows(prov: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A regression bundle's figures: per output MAE, R² and Pearson r on held-out data and validation."""
    rows: list[tuple[str, str]] = []
    metrics = prov.get("metrics")
    sources = [("held-out", prov.get("held_out")), ("validation", metrics.get("val") if isinstance(metrics, Mapping)
                                                    else None)]
    for label, block in sources:
        per = block.get("per_output") if isinstance(block, Mapping) else None
        if not isinstance(per, Mapping):
            continue
        for name, m in per.items():
            if isinstance(m, Mapping) and all(isinstance(m.get(k), int | float) for k in ("mae", "r2", "pearson_r")):
                rows.append((f"{name} ({label}, n = {m.get('n', '?')})",
                             f"MAE {m['mae']:.4f}, R² {m['r2']:.3f}, Pearson r {m['pearson_r']:.3f}"))
    return rows


@dataclass(frozen=True, eq=False)
class ReportInput:
    """Everything one report shows. Build it with :func:`engine.report.build_report_input`.

    Attributes:
        image: The :class:`engine.io.StudyImage` (its ``display`` is drawn as shown).
        model: The model card.
        explanation: The :class:`engine.explainers.result.ExplanationResult`.
        classes: The classes given a page each (all must be explained).
        threshold: The threshold the model boxes were cut at (``top:0.05``...).
        localisation: Class -> :class:`engine.analysis.ClassLocalisation` for every class.
        ground_truth: Ground-truth boxes (several annotators), or None.
        user_boxes: The boxes the user drew, or None.
        perturbation: The typed perturbation result (``perturb.json``), or None.
        deidentify: Leave out names, IDs, UIDs, dates and the file name.
        created: When the report was made (timezone-aware).
        app_version: RadLens version.
        image_label: How the image is named in the report (file name; hidden when de-identified).
        command: A command line that reproduces the report, if known.
        colormap: Matplotlib colour map of the heatmaps.
        alpha: Heatmap opacity.
        title: Document title.
        author: PDF author field.
    """

    image: Any
    model: ModelCard
    explanation: Any
    classes: tuple[str, ...]
    threshold: str
    localisation: Mapping[str, Any]
    ground_truth: Any = None
    user_boxes: Any = None
    perturbation: PerturbationResult | None = None
    deidentify: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    app_version: str = "unknown"
    image_label: str = ""
    command: str = ""
    colormap: str = "jet"
    alpha: float = 0.45
    title: str = "RadLens explanation report"
    author: str = "RadLens"

    def __post_init__(self) -> None:
        if self.explanation is None:
            raise NothingExplainedError(
                "there is no explanation to report.", fix="run an explanation first (Explain, or radlens explain)."
            )
        if not self.classes:
            raise NothingExplainedError(
                "no class was selected for the report.", fix="select at least one explained class."
            )
        explained = tuple(self.explanation.explained)
        missing = [c for c in self.classes if c not in explained]
        if missing:
            raise ReportInputError(
                f"class(es) {', '.join(missing)} have no map in the explanation (explained: {', '.join(explained)}).",
                fix="explain those classes first, or choose among the explained ones.",
            )
        no_loc = [c for c in self.classes if c not in self.localisation]
        if no_loc:
            raise ReportInputError(f"no localisation for class(es) {', '.join(no_loc)}.",
                                   fix="build the input with build_report_input, which localises every class.")
        if self.created.tzinfo is None:
            raise ReportInputError("the report time must be timezone-aware.", fix="pass datetime.now(UTC).")

    def created_text(self) -> str:
        """When the report was made, as printed; de-identified reports give the year only (the day of a
        report is often the day of the examination)."""
        if self.deidentify:
            return f"{self.created.year} (day and time removed)"
        return self.created.strftime("%Y-%m-%d %H:%M %Z")
