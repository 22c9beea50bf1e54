"""The panel's Qt-free core: one prepared :class:`engine.perturb.PerturbationLab` per map.

A lab is built once per (explanation, class, resolution) and cached, so the ranking of the pixels
and each mode's fill image are computed once per map; a slider move then costs one masked copy and
one forward. Methods may be called from worker threads (the lab cache is locked; the engine locks
the model around each hooked run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.explainers import ExplanationResult
from engine.io import StudyImage
from engine.models.bundle import LoadedModel
from engine.perturb import PerturbationLab, PerturbationResult, Perturbed, Replacement, build_document
from engine.perturb.curves import CurveResult, run_curves
from engine.perturb.frame import make_frame

LIVE_RESOLUTION = "image"  # the canvas shows the perturbed image in the study image's pixels
CURVE_RESOLUTION = "model"  # curves: many forwards, fastest at model resolution


@dataclass(frozen=True)
class Source:
    """What a perturbation is computed from (taken from the viewer state)."""

    model: LoadedModel
    image: StudyImage
    explanation: ExplanationResult
    target: str
    image_name: str = ""

    def key(self, resolution: str) -> tuple[int, int, int, str, str]:
        return id(self.model), id(self.image), id(self.explanation), self.target, resolution


class PerturbSession:
    """Caches labs and turns panel settings into engine calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labs: dict[tuple[int, int, int, str, str], PerturbationLab] = {}

    def lab(self, src: Source, resolution: str = LIVE_RESOLUTION) -> PerturbationLab:
        """The lab of ``src`` at ``resolution`` (built on first use; one forward)."""
        key = src.key(resolution)
        with self._lock:
            lab = self._labs.get(key)
            if lab is None:
                if resolution == "model":
                    lab = PerturbationLab(src.model, src.image, model_map=src.explanation.map(src.target, "model"),
                                          resolution="model")
                else:
                    lab = PerturbationLab(src.model, src.image, src.explanation.map(src.target, "image"),
                                          resolution="image")
                self._labs = {k: v for k, v in self._labs.items() if k[:4] == key[:4]}  # drop other maps' labs
                self._labs[key] = lab
            return lab

    def step(self, src: Source, fraction: float, order: str, rep: Replacement, seed: int = 0) -> Perturbed:
        return self.lab(src).perturb(fraction, order, rep, seed)

    def region(self, src: Source, box: list[float], rep: Replacement, seed: int = 0) -> Perturbed:
        return self.lab(src).region(box, rep, seed)

    def curves(self, src: Source, rep: Replacement, seeds: tuple[int, ...] = (0, 1, 2), *,
               fractions: list[float] | None = None, cancel: Any = None, progress: Any = None) -> CurveResult:
        lab = self.lab(src, CURVE_RESOLUTION)
        return run_curves(lab, src.target, replacement=rep, seeds=seeds, fractions=fractions, cancel=cancel,
                          progress=progress)

    def clear(self) -> None:
        with self._lock:
            self._labs.clear()


def document(src: Source, lab: PerturbationLab, order: str, rep: Replacement, seed: int, *,
             single: Perturbed | None = None, region: Perturbed | None = None, region_box: list[float] | None = None,
             curves: CurveResult | None = None) -> PerturbationResult:
    """The typed perturbation result (perturb.json schema) for ``state.perturbation``."""
    ex = src.explanation
    return build_document(src.model, image=src.image_name, target=src.target, order=order, replacement=rep,
                          resolution=lab.frame.resolution, seed=seed, original=lab.original, method=ex.method,
                          layer=ex.layers[0] if ex.layers else None, curves=curves, single=single, region=region,
                          region_box=region_box)


def corrupted(src: Source, corruption: str, severity: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities clean, probabilities corrupted, corrupted image at model resolution)."""
    import torch

    from engine.perturb.corruptions import corrupt

    frame = make_frame(src.model, src.image, "model")
    img = corrupt(frame.base, corruption, severity, seed)
    probs = frame.probabilities(torch.from_numpy(np.stack([frame.base, img])))
    return probs[0], probs[1], img
