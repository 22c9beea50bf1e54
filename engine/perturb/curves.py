"""Deletion and insertion curves, their normalised AUC and AOPC, with a random-order band.

Definitions (``f_0 < ... < f_L`` the fractions, ``p(f)`` the class's probability after the step):

* Deletion: the first ``round(f * N)`` pixels of the order are replaced (the replacement mode).
* Insertion: every pixel starts replaced by the *baseline* (default: Gaussian blur, 21 x 21) and
  the first ``round(f * N)`` pixels of the order are restored to their original values.
* Named conventions (``convention=`` of :func:`run_curves`, recorded in ``CurveResult.info``):
  ``radlens`` (the default; the research protocol of SPEC section 5): deletion fills the image's
  mean, insertion starts from a 21 x 21 Gaussian blur (sigma 3.5 by OpenCV's rule). ``rise``
  (Petsiuk et al., BMVC 2018, and their code ``eclique/RISE`` ``evaluation.py``): deletion fills
  zeros *of the normalised input tensor* (``substrate_fn = torch.zeros_like`` on the normalised
  image), i.e. the model's normalisation mean in display units (``dataset_mean`` with
  ``value = manifest.mean``; black only for a model without normalisation); insertion starts from
  an 11 x 11, sigma = 5 Gaussian blur. Differences that remain: RISE's kernel is a Gaussian-filtered
  dirac (its tails reflected back into the 11 x 11 window) applied with zero padding, RadLens's is
  the truncated, normalised Gaussian with mirrored borders; RISE steps 224 pixels at a time, RadLens
  evaluates the given fractions (the normalised AUC is the same trapezoid rule).
* Normalised AUC: ``trapezoid(p, f) / (f_L - f_0)``, the mean height of the curve over the span
  of fractions (with the default grid 0..1 this is the plain area under the curve; a single
  fraction gives its probability). It is *not* divided by the original probability.
* AOPC (Samek et al. 2017): ``mean over the L + 1 steps of (p_original - p(f_l))``; with
  ``f_0 = 0`` its first term is 0, exactly as in the paper's ``1/(L+1) sum_{k=0}^{L}``.
* Random band: the same curves for ``len(seeds)`` random orders; mean and sample sd (ddof = 1;
  0 for one seed) per fraction, and the mean and sd of their AUCs.
* Regression models: ``p`` is the predicted value (the raw output, in its unit) everywhere above,
  so AUCs are mean values and AOPC the mean drop of the value (:attr:`CurveResult.regression`).

All steps of all orders are batched through the model in chunks that fit memory; the results
equal one-step-at-a-time perturbations (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.errors import RadLensError
from engine.perturb.lab import PerturbationLab
from engine.perturb.ranking import check_order, count_for_fraction
from engine.perturb.replace import Replacement

RESEARCH_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5)
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: Named deletion/insertion settings, see the module docstring; ``radlens`` is the default.
CURVE_CONVENTIONS = ("radlens", "rise")
RISE_BLUR = {"ksize": 11, "sigma": 5.0}
RADLENS_BLUR = {"ksize": 21}


def curve_settings(convention: str, norm_mean: Sequence[float] = (0.0,)) -> tuple[Replacement, Replacement]:
    """The (deletion replacement, insertion baseline) of a named convention.

    Args:
        convention: ``radlens`` or ``rise`` (see the module docstring).
        norm_mean: The model's normalisation mean (display units, per channel): RISE's deletion
            fills the value whose normalised input is 0.

    Raises:
        RadLensError: If the name is not a convention.
    """
    key = str(convention).lower()
    if key == "radlens":
        return Replacement.make("mean"), Replacement.make("blur", **RADLENS_BLUR)
    if key == "rise":
        mean = [float(v) for v in norm_mean]
        value: float | list[float] = mean[0] if len(mean) == 1 else mean
        return Replacement.make("dataset_mean", value=value), Replacement.make("blur", **RISE_BLUR)
    raise RadLensError(f"unknown curve convention {convention!r}.", fix=f"use one of {', '.join(CURVE_CONVENTIONS)}.")


def convention_of(replacement: Replacement, baseline: Replacement, norm_mean: Sequence[float] = (0.0,)) -> str:
    """The name of the convention a (replacement, baseline) pair equals, or ``custom``."""
    for name in CURVE_CONVENTIONS:
        rep, base = curve_settings(name, norm_mean)
        if rep.to_dict() == replacement.to_dict() and base.to_dict() == baseline.to_dict():
            return name
    return "custom"


def default_fractions(steps: int = 21) -> list[float]:
    """``steps`` equidistant fractions from 0 to 1 (default 0, 0.05, ..., 1)."""
    return [round(float(v), 10) for v in np.linspace(0.0, 1.0, steps)]


def check_fractions(fractions: Sequence[float]) -> list[float]:
    """Sorted, unique fractions in [0, 1]."""
    fs = sorted({float(f) for f in fractions})
    if not fs:
        raise RadLensError("no fractions given.", fix="give e.g. 0.02,0.05,0.1,0.2,0.5.")
    for f in fs:
        count_for_fraction(f, 1)  # validates the range
    return fs


def normalised_auc(fractions: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """``trapezoid(scores, fractions) / (fractions[-1] - fractions[0])`` (one point: its score)."""
    f = np.asarray(fractions, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if f.size == 1:
        return float(s[0])
    area = float(np.sum((f[1:] - f[:-1]) * (s[1:] + s[:-1]) / 2.0))
    return area / float(f[-1] - f[0])


def aopc(original: float, scores: Sequence[float] | np.ndarray) -> float:
    """Mean over the steps of ``original - score`` (Samek et al.)."""
    return float(np.mean(float(original) - np.asarray(scores, dtype=np.float64)))


@dataclass(frozen=True, eq=False)
class CurveResult:
    """Deletion/insertion probabilities of every class for several orders.

    Attributes:
        class_names: The model's classes; ``target`` the class whose map ranked the pixels.
        fractions: The replaced fractions.
        original: ``(C,)`` probabilities of the unperturbed image.
        deletion: order -> ``(F, C)`` probabilities (orders: morf, lerf, ...).
        insertion: order -> ``(F, C)``.
        seeds: The random orders' seeds; ``random_deletion``/``random_insertion`` ``(S, F, C)``.
        replacement: The deletion mode; ``baseline`` the insertion start.
    """

    class_names: tuple[str, ...]
    target: str
    fractions: list[float]
    original: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    seeds: list[int]
    random_deletion: np.ndarray
    random_insertion: np.ndarray
    replacement: Replacement
    baseline: Replacement
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def t(self) -> int:
        return self.class_names.index(self.target)

    @property
    def regression(self) -> bool:
        """Whether the scores are a regression model's predicted values (``info["task"]``), not probabilities."""
        return self.info.get("task") == "regression"

    @property
    def unit(self) -> str:
        """The target output's unit (regression; "" otherwise)."""
        return str((self.info.get("units") or {}).get(self.target, ""))

    def scores(self, kind: str, order: str) -> np.ndarray:
        """The target class's curve (``kind`` deletion/insertion) for an order."""
        return (self.deletion if kind == "deletion" else self.insertion)[order][:, self.t]

    def summary(self, order: str) -> dict[str, Any]:
        """Curves, AUCs and AOPC of the target class for one order (perturb.json keys)."""
        d, i = self.scores("deletion", order), self.scores("insertion", order)
        return {
            "deletion": {"fractions": list(self.fractions), "scores": [float(v) for v in d]},
            "insertion": {"fractions": list(self.fractions), "scores": [float(v) for v in i]},
            "deletion_auc": normalised_auc(self.fractions, d),
            "insertion_auc": normalised_auc(self.fractions, i),
            "aopc": aopc(self.original[self.t], d),
        }

    def random_summary(self) -> dict[str, Any]:
        """The random band of the target class (perturb.json ``random``)."""
        rd, ri = self.random_deletion[:, :, self.t], self.random_insertion[:, :, self.t]
        ddof = 1 if len(self.seeds) > 1 else 0
        d_auc = np.array([normalised_auc(self.fractions, c) for c in rd])
        i_auc = np.array([normalised_auc(self.fractions, c) for c in ri])
        return {
            "seeds": list(self.seeds),
            "deletion_mean": rd.mean(0).tolist(), "deletion_sd": rd.std(0, ddof=ddof).tolist(),
            "insertion_mean": ri.mean(0).tolist(), "insertion_sd": ri.std(0, ddof=ddof).tolist(),
            "deletion_auc_mean": float(d_auc.mean()), "deletion_auc_sd": float(d_auc.std(ddof=ddof)),
            "insertion_auc_mean": float(i_auc.mean()), "insertion_auc_sd": float(i_auc.std(ddof=ddof)),
            "aopc_mean": float(np.mean([aopc(self.original[self.t], c) for c in rd])),
        }

    def delta_p(self, order: str) -> dict[str, Any]:
        """Every class's ``p_original - p`` along the deletion curve of ``order``."""
        d = self.original[None, :] - self.deletion[order]
        return {"fractions": list(self.fractions),
                "by_class": {c: [float(v) for v in d[:, j]] for j, c in enumerate(self.class_names)}}


def run_curves(
    lab: PerturbationLab,
    target: str,
    *,
    orders: Sequence[str] = ("morf", "lerf"),
    replacement: Replacement | None = None,
    baseline: Replacement | None = None,
    fractions: Sequence[float] | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    seed: int = 0,
    chunk: int | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[float, str], None] | None = None,
    with_insertion: bool = True,
    convention: str | None = None,
) -> CurveResult:
    """Deletion and insertion curves for ``orders`` and a random band over ``seeds``.

    ``with_insertion=False`` runs the deletion steps only (the result's insertion curves are then
    empty), for callers that read deletion alone such as the data-set Δp table.

    The settings' convention is recorded in ``info["convention"]``: the name given, else the
    name the replacement and baseline equal (``radlens`` for the defaults), else ``custom``.

    Args:
        lab: The prepared image and map (its map is ``target``'s).
        target: The class whose map ranks the pixels and whose score the curves follow.
        orders: Ranked orders to run (``morf``, ``lerf``; ``random`` uses the first seed).
        replacement: Deletion mode (default image mean).
        baseline: Insertion start (default Gaussian blur 21 x 21); must not be ``inpaint``.
        fractions: Fractions replaced (default 0..1 in steps of 0.05).
        seeds: Seeds of the random band (empty: no band).
        seed: Seed of the noise replacement modes and of ``random`` in ``orders``.
        chunk: Images per forward (default: automatic).
        convention: ``radlens`` or ``rise``: the named deletion fill and insertion baseline
            (then ``replacement`` and ``baseline`` must be None).

    Raises:
        RadLensError: For an unknown class or convention, a convention together with explicit
            settings, or an inpainting baseline.
    """
    if target not in lab.class_names:
        raise RadLensError(f"unknown class {target!r}; the model's classes are {', '.join(lab.class_names)}.")
    norm_mean = tuple(lab.model.manifest.mean)
    if convention is not None:
        if replacement is not None or baseline is not None:
            raise RadLensError(f"curve convention {convention!r} sets the replacement and the baseline itself.",
                               fix="pass either convention= or replacement=/baseline=, not both.")
        rep, base_rep = curve_settings(convention, norm_mean)
    else:
        rep = replacement or Replacement.make("mean")
        base_rep = baseline or Replacement.make("blur", **RADLENS_BLUR)
    if base_rep.needs_mask:
        raise RadLensError("inpainting cannot be an insertion baseline (nothing is left to inpaint from).",
                           fix="use blur or mean as the insertion baseline.")
    fs = check_fractions(fractions if fractions is not None else default_fractions())
    orders = [check_order(o) for o in orders]
    kinds = ("deletion", "insertion") if with_insertion else ("deletion",)
    jobs: list[tuple[str, str, int]] = [(kind, o, int(seed) if o == "random" else 0) for o in orders for kind in kinds]
    jobs += [(kind, "random", int(s)) for s in seeds for kind in kinds]
    probs = _sweep_all(lab, jobs, fs, rep, base_rep, int(seed), chunk, cancel, progress)
    nf = len(fs)
    block = {job: probs[i * nf:(i + 1) * nf] for i, job in enumerate(jobs)}
    deletion = {o: block[("deletion", o, int(seed) if o == "random" else 0)] for o in orders}
    insertion = ({o: block[("insertion", o, int(seed) if o == "random" else 0)] for o in orders}
                 if with_insertion else {})
    c = len(lab.class_names)
    rd = np.stack([block[("deletion", "random", int(s))] for s in seeds]) if seeds else np.zeros((0, nf, c))
    ri = (np.stack([block[("insertion", "random", int(s))] for s in seeds]) if seeds and with_insertion
          else np.zeros((0, nf, c)))
    info = {**lab.describe(), "convention": convention_of(rep, base_rep, norm_mean)}
    return CurveResult(lab.class_names, target, fs, lab.original.copy(), deletion, insertion,
                       [int(s) for s in seeds], rd, ri, rep, base_rep, info)


def _sweep_all(lab: PerturbationLab, jobs: list[tuple[str, str, int]], fs: list[float], rep: Replacement,
               base_rep: Replacement, seed: int, chunk: int | None, cancel: Callable[[], bool] | None,
               progress: Callable[[float, str], None] | None) -> np.ndarray:
    """Probabilities of every (job, fraction) image, in job-major order, batched."""
    frame = lab.frame
    base_t = torch.from_numpy(frame.base)
    valid_t = torch.from_numpy(frame.valid)
    noise_seed = seed
    rep_fill = None if rep.needs_mask else torch.from_numpy(lab.fill(rep, noise_seed))
    base_fill = (torch.from_numpy(lab.fill(base_rep, noise_seed)) if any(k == "insertion" for k, _, _ in jobs)
                 else None)
    steps: list[tuple[str, torch.Tensor, int]] = []
    for kind, order, order_seed in jobs:
        ranking, positions = lab.ranking(order, order_seed)
        pos_t = torch.from_numpy(positions)
        for f in fs:
            steps.append((kind, pos_t, count_for_fraction(f, ranking.size)))

    def make(start: int, stop: int) -> torch.Tensor:
        out = []
        for kind, pos_t, k in steps[start:stop]:
            chosen = pos_t < k
            if kind == "deletion":
                if rep_fill is None:
                    img = torch.from_numpy(rep.apply(frame.base, chosen.numpy(), noise_seed, valid=frame.valid))
                else:
                    img = torch.where(_expand(chosen, base_t), rep_fill, base_t)
            else:
                assert base_fill is not None  # built whenever an insertion job exists
                replaced = valid_t & ~chosen
                img = torch.where(_expand(replaced, base_t), base_fill, base_t)
            out.append(img)
        return torch.stack(out)

    return lab.frame.predict_batches(make, len(steps), chunk=chunk, cancel=cancel, progress=progress)


def _expand(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask[..., None] if like.ndim == 3 else mask
