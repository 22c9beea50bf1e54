"""One image, one class's map, one model: replace pixels and watch every class's probability.

For a regression model (``task: regression``) the scores are the predicted values in their units
(the raw outputs): ``probabilities`` then holds values and ``delta_p`` is ``value_original -
value_perturbed`` (positive: the value went down). :attr:`Perturbed.regression` and ``units`` say so.

:class:`PerturbationLab` prepares the frame once, ranks the pixels once per order and seed, and
computes each replacement mode's fill image once, so a live slider only pays for one masked copy
and one forward per move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.errors import ShapeError
from engine.models.bundle import LoadedModel
from engine.perturb.frame import Frame, make_frame
from engine.perturb.ranking import (
    box_mask,
    check_order,
    check_patch,
    count_for_fraction,
    rank_pixels,
    rank_positions,
)
from engine.perturb.replace import Replacement
from engine.preprocess import HasDisplay


@dataclass(frozen=True, eq=False)
class Perturbed:
    """One perturbed image and what the model made of it.

    Attributes:
        image: The perturbed pixels at the frame's resolution (float32 in [0, 1]).
        mask: ``(H, W)`` the replaced pixels.
        k: How many pixels were replaced; ``n`` of how many rankable ones.
        fraction: The fraction asked for (None for a region).
        probabilities: ``(C,)`` every class's probability on the perturbed image.
        original: ``(C,)`` every class's probability on the unperturbed image (same path).
        class_names: The model's classes.
        regression: The model predicts values: ``probabilities`` and ``original`` are predicted values.
        units: Regression: each output's unit (``class_names`` order); empty for classifiers.
    """

    image: np.ndarray
    mask: np.ndarray
    k: int
    n: int
    fraction: float | None
    probabilities: np.ndarray
    original: np.ndarray
    class_names: tuple[str, ...]
    regression: bool = False
    units: tuple[str, ...] = ()

    @property
    def delta_p(self) -> np.ndarray:
        """``p_original - p_perturbed`` for every class (positive: the class lost probability; regression:
        ``value_original - value_perturbed``, positive when the value went down)."""
        return self.original - self.probabilities

    @property
    def values(self) -> np.ndarray:
        """The perturbed scores under their regression name (the predicted values)."""
        return self.probabilities

    def by_class(self, values: np.ndarray) -> dict[str, float]:
        return {c: float(v) for c, v in zip(self.class_names, values, strict=True)}


class PerturbationLab:
    """Replace pixels of one image ranked by one relevance map.

    Args:
        model: The model.
        image: The image (array or ``StudyImage``).
        relevance: The class's map in original-image pixels (``ExplanationResult.map(c)``); NaN
            pixels are never replaced. Give ``model_map`` instead to use a map at model resolution
            (``ExplanationResult.map(c, "model")``) without resampling it twice.
        resolution: ``model`` (default; fast) or ``image``.
        patch: Rank ``patch x patch`` squares of the frame instead of single pixels (default 1;
            see :mod:`engine.perturb.ranking`).
    """

    def __init__(self, model: LoadedModel, image: np.ndarray | HasDisplay, relevance: np.ndarray | None = None,
                 *, model_map: np.ndarray | None = None, resolution: str = "model", patch: int = 1) -> None:
        self.model = model
        self.patch = check_patch(patch)
        self.frame: Frame = make_frame(model, image, resolution)
        if (relevance is None) == (model_map is None):
            raise ValueError("give exactly one of relevance (image pixels) or model_map")
        rel = self.frame.relevance_to_frame(relevance) if relevance is not None else None
        if rel is None:
            mm = np.asarray(model_map, dtype=np.float32)
            if mm.shape != tuple(model.manifest.input_size):
                raise ShapeError("model_map", mm.shape, f"the model input {tuple(model.manifest.input_size)}")
            rel = self.frame.model_relevance(mm)
        rel = np.where(self.frame.valid, rel, np.nan).astype(np.float32)
        self.relevance = rel
        self.class_names = tuple(model.class_names)
        self.regression = self.frame.is_regression
        self.units = tuple(model.manifest.unit(i) for i in range(len(self.class_names))) if self.regression else ()
        self._rankings: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self._fills: dict[tuple[str, int], np.ndarray] = {}
        self.original = self.frame.probabilities(torch.from_numpy(self.frame.base[None]))[0]

    # --- cached pieces ------------------------------------------------------------------
    @property
    def n_pixels(self) -> int:
        """How many pixels can be replaced (the finite pixels of the map)."""
        return int(np.isfinite(self.relevance).sum())

    def ranking(self, order: str = "morf", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(ranking, per-pixel positions) of an order, cached; the seed matters only for random."""
        order = check_order(order)
        key = (order, int(seed) if order == "random" else 0)
        if key not in self._rankings:
            r = rank_pixels(self.relevance, order, key[1], self.patch)
            self._rankings[key] = (r, rank_positions(r, self.frame.shape))
        return self._rankings[key]

    def fill(self, replacement: Replacement, seed: int = 0) -> np.ndarray:
        """The fill image of a mask-independent mode, cached by mode, parameters and seed."""
        key = (repr(sorted(replacement.to_dict()["params"].items())) + replacement.mode, int(seed))
        if key not in self._fills:
            self._fills[key] = replacement.fill(self.frame.base, seed, self.frame.valid)
        return self._fills[key]

    # --- one perturbation ---------------------------------------------------------------
    def perturb(self, fraction: float, order: str = "morf", replacement: Replacement | None = None,
                seed: int = 0) -> Perturbed:
        """Replace the first ``round(fraction * N)`` pixels of ``order`` and run the model once."""
        rep = replacement or Replacement.make("mean")
        ranking, positions = self.ranking(order, seed)
        k = count_for_fraction(fraction, ranking.size)
        mask = positions < k
        return self._run(mask, rep, seed, k, ranking.size, float(fraction))

    def region(self, box: tuple[float, float, float, float] | list[float], replacement: Replacement | None = None,
               seed: int = 0) -> Perturbed:
        """Replace the pixels inside ``box`` (original-image pixel-edge coordinates)."""
        rep = replacement or Replacement.make("mean")
        mask = box_mask(self.frame.box_to_frame(box), self.frame.shape) & self.frame.valid
        return self._run(mask, rep, seed, int(mask.sum()), int(self.frame.valid.sum()), None)

    def _run(self, mask: np.ndarray, rep: Replacement, seed: int, k: int, n: int,
             fraction: float | None) -> Perturbed:
        if rep.needs_mask:
            image = rep.apply(self.frame.base, mask, seed, valid=self.frame.valid)
        else:
            image = rep.apply(self.frame.base, mask, seed, fill=self.fill(rep, seed))
        probs = self.frame.probabilities(torch.from_numpy(image[None]))[0]
        return Perturbed(image, mask, k, n, fraction, probs, self.original.copy(), self.class_names,
                         self.regression, self.units)

    def describe(self) -> dict[str, Any]:
        """The frame's resolution and size and the patch size, for provenance."""
        out: dict[str, Any] = {"resolution": self.frame.resolution, "frame_size": list(self.frame.shape),
                               "n_pixels": self.n_pixels, "patch": self.patch}
        if self.regression:
            out["task"] = "regression"
            out["units"] = dict(zip(self.class_names, self.units, strict=True))
        return out
