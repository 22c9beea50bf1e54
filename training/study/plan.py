"""Resolving a study before any work: models loaded once in the driver, layers and parameters checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.study.config import DEFAULT_LAYER, StudyConfig, params_hash
from training.study.errors import ConfigProblem, StudyConfigError
from training.study.score import ModelPlan, Task


def bundle_path(spec: str) -> str:
    """A study's model entry as a loadable path: ``default``, an existing path, or a path relative to
    RadLens's installed resources (the presets name shipped bundles as ``resources/models/NAME``)."""
    if spec == "default" or Path(spec).is_absolute() or Path(spec).exists():
        return spec
    if spec.startswith("resources/models/"):  # a bundle shipped with RadLens, wherever it is installed
        from engine.resources import models_dir

        shipped = models_dir() / spec.removeprefix("resources/models/")
        return str(shipped) if shipped.exists() else spec
    return spec


def plan_models(cfg: StudyConfig) -> list[ModelPlan]:
    """Load each model once (CPU) and resolve every block x method x layer into a :class:`Task`.

    Every metric block of the study runs every method at each of its layers; the parameters hash
    of a task covers the method, layer, parameters and the block's settings.

    Raises:
        StudyConfigError: Unknown layers (with the model's layers listed), a block that cannot run on
            a model, all problems together.
        ModelError: A bundle cannot be loaded (names the bundle and the fix).
    """
    from engine import default_layer, list_layers, load_model
    from engine.explainers.base import get_method
    from training.study.blocks import get_block

    settings = cfg.block_settings()
    plans: list[ModelPlan] = []
    problems: list[ConfigProblem] = []
    for mi, spec in enumerate(cfg.models):
        model = load_model(bundle_path(spec), device="cpu")
        names: list[str] | None = None
        tasks: list[Task] = []
        resolved_methods: list[tuple[str, str, dict[str, Any]]] = []
        for si, m in enumerate(cfg.methods):
            cls = get_method(m.name)
            params: dict[str, Any] = cls.resolve_params(m.params)
            for layer in m.layers or ("",):
                resolved = default_layer(model) if layer == DEFAULT_LAYER else layer
                if resolved:
                    names = names if names is not None else [info.name for info in list_layers(model)]
                    if resolved not in names:
                        problems.append(ConfigProblem(0, f"methods[{si}].layers", f"model {spec!r} "
                                                      f"({model.name}) has no spatial layer {layer!r}",
                                                      ", ".join(names)))
                        continue
                resolved_methods.append((cls.name, resolved, params))
        for name in cfg.metrics:
            block = get_block(name)
            for message in block.check_model(model, settings[name]):
                problems.append(ConfigProblem(0, name, message, ""))
            scoring = block.hash_settings(settings[name])
            for method, resolved, params in resolved_methods:
                tasks.append(Task(method, resolved, params, params_hash(method, resolved, params, scoring), name))
        if len({t.params_hash for t in tasks}) != len(tasks):
            problems.append(ConfigProblem(0, "methods", f"model {mi} runs the same method, layer and "
                                          "parameters twice", "each method x layer once"))
        plans.append(ModelPlan(
            spec=spec, path=str(model.path), sha256=model.weights_sha256, name=model.name,
            version=model.version, class_names=tuple(model.class_names),
            thresholds=tuple(float(model.manifest.threshold(i)) for i in range(len(model.class_names))),
            tasks=tuple(tasks)))
    if problems:
        raise StudyConfigError(problems, path=cfg.source or None)
    return plans
