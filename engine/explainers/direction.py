"""Explaining a score's direction: what raises it and what lowers it (regression outputs).

Convention (stated in every result's notes, :data:`CONVENTION`): for an output ``y``,

* the **raises** map is the method's map of ``+y``; the **lowers** map is its map of ``-y``.
* CAM methods (Grad-CAM, ++, XGrad, LayerCAM, Score-CAM, SmoothGrad-CAM) end in a ReLU, so for
  Grad-CAM "raises" = ReLU(sum_k w_k A^k) with w_k = mean dy/dA^k (positively weighted
  activations) and "lowers" = ReLU(-sum_k w_k A^k) (the gradients of -y are -g: the negatively
  weighted activations).
* Gradient methods are run signed (``abs`` off) and each direction keeps the positive part of
  its signed attribution: with ``gradient_x_input`` (the default gradient method for directions)
  or Integrated Gradients, "raises" = max(a, 0) and "lowers" = max(-a, 0) of the attribution
  ``a`` of ``+y``, so raises - lowers = a.

Both directions come from one pass: the network's output ``y`` (B, C) is extended by a forward
hook to ``[y, -y]`` (B, 2C) for the duration of the call, and the method explains the C outputs
and their C negations together (the CAM family from one forward, one vector-Jacobian product each, gradient
methods from one forward). The hook is removed afterwards; the model lock is held throughout.

``engine.explain`` sends every regression model here, so ``explain(model, image)`` on a
regression bundle returns a result whose ``map(name, direction="raises"|"lowers")`` gives each
map and whose ``values``/``units`` give the prediction; :func:`explain_directions` also explains
the logit of a classifier this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ExplainError
from engine.explainers.base import get_method
from engine.explainers.hooks import logits_of
from engine.explainers.result import ExplanationResult
from engine.models.bundle import LoadedModel, load_model
from engine.models.lock import model_lock

DIRECTIONS = ("raises", "lowers")
#: The convention, as it is written into every direction result's notes.
CONVENTION = ("directions: 'raises' = the method's map of +y, 'lowers' = its map of -y (CAMs: ReLU of the "
              "positively / negatively gradient-weighted activations; signed gradient methods: the positive / "
              "negative part of the attribution of +y)")
#: Method run when the caller names none for a regression model's gradient family.
DEFAULT_GRADIENT_METHOD = "gradient_x_input"


def _mirror_hook(_module: nn.Module, _inputs: object, output: object) -> object:
    y = logits_of(output)
    mirrored = torch.cat([y, -y], dim=1)
    if isinstance(output, torch.Tensor):
        return mirrored
    if isinstance(output, dict):
        return {**output, "logits": mirrored}
    return (mirrored, *output[1:])  # type: ignore[index]


def explain_directions(
    model: LoadedModel | str | Path,
    image: Any,
    method: str = "gradcam",
    classes: Sequence[str | int] | str | int | None = None,
    layers: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> ExplanationResult:
    """Explain what raises and what lowers each requested output, in one pass.

    Args:
        model: A loaded model or bundle path (regression or classifier: a classifier's logit is
            explained).
        image: As for :func:`engine.explain`.
        method: Any registered method; methods with an ``abs`` parameter run signed.
        classes: Output names or indices; None or ``"all"`` means every output.
        layers: CAM target layer(s).
        **kwargs: Everything else :func:`engine.explain` takes (normalisation, alignment,
            progress, cancel, method parameters...).

    Returns:
        An :class:`ExplanationResult` whose ``native_maps`` are the "raises" maps, with
        ``direction_maps`` holding both directions (non-negative), ``values`` the outputs and
        ``units`` their units.

    Raises:
        ExplainError: ``abs=True`` was asked of a gradient method (an absolute map has no direction).
    """
    from engine.explainers.api import _class_indices, explain

    if not isinstance(model, LoadedModel):
        model = load_model(model, device=kwargs.pop("device", None) or "cpu")
    cls = get_method(method)
    if any(p.name == "abs" for p in cls.params):
        if kwargs.get("abs") is True:
            raise ExplainError(f"{cls.label} with abs=True has no direction (|gradient| is the same for +y and -y).",
                               fix="leave abs off for a direction explanation, or use gradient_x_input.")
        kwargs["abs"] = False
    idx = _class_indices(model, classes)
    names = model.class_names
    c = len(names)
    m = model.manifest
    mirrored_manifest = dataclasses.replace(
        m, class_names=(*names, *(f"-{n}" for n in names)), task="multilabel", outputs=(), thresholds=(),
    )
    mirrored = dataclasses.replace(model, manifest=mirrored_manifest)
    with model_lock(model):
        handle = model.module.register_forward_hook(_mirror_hook)
        try:
            both = explain(mirrored, image, method, [*idx, *(c + i for i in idx)], layers, **kwargs)
        finally:
            handle.remove()
    k = len(idx)
    native = np.asarray(both.native_maps, dtype=np.float32)
    raises = np.maximum(native[:k], 0.0)
    lowers = np.maximum(native[k:], 0.0)
    explained = tuple(names[i] for i in idx)
    values = np.asarray(both.logits[:c], dtype=np.float32)
    regression = m.task == "regression"
    identity = {**both.model, "task": m.task}
    layer_maps = {name: np.maximum(np.asarray(v)[:k], 0.0) for name, v in both.layer_maps.items()}
    target = "regression output (raw value)" if regression else both.target
    return dataclasses.replace(
        both, class_names=names, explained=explained, logits=values,
        probabilities=values.copy() if regression else _probabilities(values, m.task),
        thresholds=() if regression else (m.thresholds or tuple(0.5 for _ in names)),
        target=target, native_maps=raises, signed=False, model=identity, layer_maps=layer_maps,
        value_ranges={n: (float(a.min()), float(a.max())) for n, a in zip(explained, raises, strict=True)},
        notes=(*both.notes, CONVENTION), units=tuple(m.unit(i) for i in range(c)), direction="raises",
        direction_maps={"raises": raises, "lowers": lowers}, diagnostics=_diagnostics(both.diagnostics, c),
        _cache={}, _directed={},
    )


def _probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    t = torch.from_numpy(logits)
    return (torch.sigmoid(t) if task == "multilabel" else torch.softmax(t, 0)).numpy()


def _diagnostics(diag: Any, c: int) -> dict[str, Any]:
    """Keep the rows of the +y outputs (e.g. IG completeness), dropping those of the mirrored -y."""
    out = dict(diag)
    rows = out.get("completeness")
    if isinstance(rows, list):
        out["completeness"] = [r for r in rows if int(r.get("class_index", 0)) < c]
    return out
