"""Robustness: how far probabilities and heatmaps move under global corruptions (severity 1-5).

The image is taken at model resolution (see :mod:`engine.perturb.corruptions` for why), corrupted,
and explained again with the same method, per layer. For every class:

* ``delta_p = p_clean - p_corrupted``;
* heatmap movement at model resolution between the clean map ``a`` and the corrupted map ``b``:
  ``rmse = sqrt(mean((a - b)^2))`` and ``ssim`` (scikit-image ``structural_similarity``,
  ``data_range = 1``). With ``scale="clean"`` (default) both raw maps are put on the clean map's
  min-max scale, so a map that fades counts as moved; ``scale="per_map"`` min-max normalises each
  map on its own (shape only). A flat clean map (max = min: nothing to put on a scale, e.g. an all-zero
  CAM of an absent class) has no movement on the clean scale: ``rmse`` and ``ssim`` are None (NaN
  from :func:`map_movement`), and tables leave them out. A unit range would have put those maps in raw
  CAM units beside normalised ones. (0 of 480 Grad-CAM++ maps at the 8 blocks of the bundled ResNet-18
  on 12 phantoms were flat.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.errors import CancelledError, RadLensError
from engine.models.bundle import LoadedModel
from engine.models.lock import model_lock
from engine.perturb.corruptions import CORRUPTIONS, SEVERITIES, TABLES, corrupt
from engine.perturb.frame import make_frame
from engine.preprocess import HasDisplay

SCALES = ("clean", "per_map")


def map_movement(clean: np.ndarray, other: np.ndarray, scale: str = "clean") -> tuple[float, float]:
    """(RMSE, SSIM) between two raw maps of the same shape on the chosen scale; (NaN, NaN) on the
    ``clean`` scale of a flat clean map (see the module docstring)."""
    from skimage.metrics import structural_similarity

    a = np.asarray(clean, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if scale == "clean":
        lo, hi = float(a.min()), float(a.max())
        if not hi > lo:
            return float("nan"), float("nan")
        a, b = (a - lo) / (hi - lo), (b - lo) / (hi - lo)
    elif scale == "per_map":
        a, b = _minmax(a), _minmax(b)
    else:
        raise RadLensError(f"unknown map scale {scale!r}.", fix=f"use one of {', '.join(SCALES)}.")
    rmse = float(np.sqrt(np.mean((a - b) ** 2)))
    win = min(7, *(s if s % 2 else s - 1 for s in a.shape))
    ssim = float(structural_similarity(a, b, data_range=1.0, win_size=max(3, win)))
    return rmse, ssim


def _or_none(v: float) -> float | None:
    return v if np.isfinite(v) else None


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def robustness(
    model: LoadedModel,
    image: np.ndarray | HasDisplay,
    *,
    method: str = "gradcam",
    layers: Sequence[str] | None = None,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    scale: str = "clean",
    method_params: dict[str, Any] | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run every corruption at every severity; return a JSON-ready document (``radlens.robustness``)."""
    from engine.explainers.api import default_layer, explain, explain_layers, get_method

    with model_lock(model):  # one run: every forward and explanation of it on an uninterrupted network
        params = method_params or {}
        uses_layers = get_method(method).uses_layers()
        layer_list: list[str | None] = list(layers or [default_layer(model)]) if uses_layers else [None]
        bad = [c for c in corruptions if c not in CORRUPTIONS]
        if bad:
            raise RadLensError(f"unknown corruption(s) {bad}.", fix=f"use {', '.join(CORRUPTIONS)}.")
        clean = make_frame(model, image, "model").base
        names = tuple(model.class_names)

        def run(img: np.ndarray) -> dict[str | None, Any]:
            """Every layer's explanation of ``img`` (one run for the CAM methods, see explain_layers)."""
            if layer_list == [None]:
                return {None: explain(model, img, method, **params)}
            return {k: v for k, v in explain_layers(model, img, method, [lyr for lyr in layer_list if lyr],
                                                    **params).items()}

        clean_maps = {}
        for layer, r in run(clean).items():
            clean_maps[layer] = {c: r.map(c, "model", normalisation="raw") for c in names}
            p_clean = r.probabilities.astype(np.float64)
        total = len(corruptions) * len(severities)
        entries = []
        for i, corruption in enumerate(corruptions):
            for j, severity in enumerate(severities):
                if cancel is not None and cancel():
                    raise CancelledError("the robustness run was cancelled.")
                img = corrupt(clean, corruption, severity, seed)
                moved: dict[str, dict[str, dict[str, float | None]]] = {}
                probs = None
                for layer, r in run(img).items():
                    probs = r.probabilities.astype(np.float64)
                    moved[layer or "input"] = {}
                    for c in names:
                        rmse, ssim = map_movement(clean_maps[layer][c], r.map(c, "model", normalisation="raw"), scale)
                        moved[layer or "input"][c] = {"rmse": _or_none(rmse), "ssim": _or_none(ssim)}
                assert probs is not None
                entries.append({
                    "corruption": corruption, "severity": int(severity),
                    "probabilities": {c: float(v) for c, v in zip(names, probs, strict=True)},
                    "delta_p": {c: float(a - b) for c, a, b in zip(names, p_clean, probs, strict=True)},
                    "maps": moved,
                })
                if progress is not None:
                    progress((i * len(severities) + j + 1) / total, f"{corruption} severity {severity}")
        return {
            "format": "radlens.robustness", "schema_version": 1, "method": method,
            "layers": [lyr or "input" for lyr in layer_list], "classes": list(names), "seed": int(seed),
            "scale": scale, "resolution": "model",
            "model": {"name": model.manifest.name, "version": model.manifest.version, "sha256": model.weights_sha256},
            "clean": {c: float(v) for c, v in zip(names, p_clean, strict=True)},
            "severity_table": {k: [list(v) if isinstance(v, tuple) else v for v in t] for k, t in TABLES.items()},
            "results": entries,
        }
