"""The model bundle a training run exports: manifest with metrics, thresholds and recipe."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from training.config import TrainConfig

DISCLAIMER = "Research use - not for diagnostic use."


def manifest_from_config(cfg: TrainConfig, classes: Sequence[str]) -> ModelManifest:
    """The bundle manifest (without thresholds and provenance) that training and inference share."""
    m = cfg.model
    outputs: tuple[dict[str, str], ...] = ()
    if m.task == "regression":
        classes = m.output_names or cfg.data.target_columns
        outputs = tuple({"name": n, **({"unit": m.output_units[i]} if m.output_units else {})}
                        for i, n in enumerate(classes))
    target = m.target_layer or ("layer4" if m.architecture.startswith(("resnet", "resnext", "wide_resnet")) else None)
    return ModelManifest(
        name=cfg.name, version=cfg.version, architecture=m.architecture, class_names=tuple(classes),
        task=m.task, in_channels=m.in_channels, input_size=(int(m.input_size[0]), int(m.input_size[1])),
        resize=m.resize, mean=tuple(m.mean) * (m.in_channels if len(m.mean) == 1 else 1),
        std=tuple(m.std) * (m.in_channels if len(m.std) == 1 else 1), target_layer=target,
        description=cfg.description, outputs=outputs, head=m.head or None,
    )


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, recursively (model.json stays strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def export_bundle(
    folder: Path, module: nn.Module, base: ModelManifest, thresholds: Sequence[float],
    provenance: Mapping[str, Any], *, overwrite: bool = True,
) -> Path:
    """Write the engine bundle (safetensors + model.json) with thresholds and provenance."""
    import dataclasses

    kind = "regressor" if base.task == "regression" else f"{base.task} classifier"
    description = base.description or (
        f"{base.architecture} {kind} of {', '.join(base.class_names)}, trained by radlens train. {DISCLAIMER}"
    )
    manifest = dataclasses.replace(
        base, thresholds=tuple(float(min(max(t, 0.0), 1.0)) for t in thresholds),
        provenance=json_safe(dict(provenance)), description=description,
    )
    ModelManifest.from_dict(manifest.to_dict())  # validate before writing
    return save_bundle(folder, module, manifest, overwrite=overwrite)
