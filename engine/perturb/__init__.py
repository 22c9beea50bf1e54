"""Perturbation: replace the pixels an explanation points at and watch every class's probability.

Public API::

    from engine.perturb import PerturbationLab, Replacement, run_curves
    lab = PerturbationLab(model, image, model_map=result.map("Cardiomegaly", "model"))
    out = lab.perturb(0.1, "morf", Replacement.make("blur", ksize=11))   # .probabilities, .delta_p
    curves = run_curves(lab, "Cardiomegaly")                             # MoRF, LeRF, random band
    doc = build_document(model, image=..., curves=curves, ...)           # PerturbationResult
    doc.to_json("perturb.json"); PerturbationResult.from_json("perturb.json")

Corruptions (robustness): :mod:`engine.perturb.corruptions` and :mod:`engine.perturb.robustness`.
"""

from engine.perturb.curves import (
    DEFAULT_SEEDS,
    RESEARCH_FRACTIONS,
    CurveResult,
    aopc,
    default_fractions,
    normalised_auc,
    run_curves,
)
from engine.perturb.document import build_document, check_document, read_document, write_document
from engine.perturb.lab import PerturbationLab, Perturbed
from engine.perturb.ranking import ORDERS, count_for_fraction, rank_pixels
from engine.perturb.replace import MODES, Replacement
from engine.perturb.result import PerturbationDocumentError, PerturbationResult

__all__ = [
    "DEFAULT_SEEDS",
    "MODES",
    "ORDERS",
    "RESEARCH_FRACTIONS",
    "CurveResult",
    "PerturbationDocumentError",
    "PerturbationLab",
    "PerturbationResult",
    "Perturbed",
    "Replacement",
    "aopc",
    "build_document",
    "check_document",
    "count_for_fraction",
    "default_fractions",
    "normalised_auc",
    "rank_pixels",
    "read_document",
    "run_curves",
    "write_document",
]
