"""``perturb.json``: building the typed perturbation result (format ``radlens.perturbation``).

:func:`build_document` assembles a :class:`~engine.perturb.result.PerturbationResult` from
whatever was computed; ``radlens perturb`` writes it (:func:`write_document`), the viewer's
perturbation panel stores it in ``state.perturbation`` and the report renders it. Beyond the
contract's keys the document may hold ``baseline`` (the insertion start),
``curves_convention`` (``radlens``, ``rise`` or ``custom``: see :mod:`engine.perturb.curves`),
``orders`` (the same summary for every order run, e.g. ``lerf``), ``fraction`` (a single slider step),
``definitions``, ``versions`` and ``created``; for a regression model ``task: "regression"`` and
``units`` (output -> unit), the scores then being predicted values (:data:`REGRESSION_DEFINITION`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import RadLensError
from engine.models.bundle import LoadedModel
from engine.perturb.curves import CurveResult
from engine.perturb.lab import Perturbed
from engine.perturb.replace import Replacement
from engine.perturb.result import (
    FORMAT,
    REQUIRED,
    SCHEMA_VERSION,
    DeltaP,
    OrderSummary,
    PerturbationResult,
    RandomBand,
    RegionResult,
    check_document,
)
from engine.runtime import library_versions

__all__ = ["DEFINITIONS", "FORMAT", "REQUIRED", "SCHEMA_VERSION", "build_document", "check_document",
           "curves_csv", "read_document", "write_document"]

DEFINITIONS = {
    "k": "pixels replaced at fraction f: floor(f * N + 0.5) of the N rankable pixels; tied pixels in a fixed "
         "pseudo-random order (engine.perturb.ranking.TIE_SEED)",
    "patch": "1: pixels are ranked one by one; p > 1: p x p squares ranked by their mean relevance (random: "
             "a random order of squares), pixels following square by square",
    "auc": "normalised AUC = trapezoid(p, f) / (f_max - f_min), the curve's mean height over its fractions",
    "aopc": "mean over the fractions of (p_original - p_deleted(f)) (Samek et al. 2017)",
    "delta_p": "p_original - p_perturbed for every class (positive: the class lost probability)",
    "random": "mean and sample sd (ddof=1) over the random orders' seeds",
    "insertion": "start with every pixel replaced by the baseline, restore the first k pixels of the order",
}

REGRESSION_DEFINITION = ("task: regression: every probability above is the predicted value (the raw output, in "
                         "'units'); delta_p = value_original - value_perturbed; AUC = mean value over the fractions; "
                         "AOPC = mean drop of the value")


def build_document(
    model: LoadedModel,
    *,
    image: str,
    target: str,
    order: str,
    replacement: Replacement,
    resolution: str,
    seed: int,
    original: Sequence[float],
    method: str | None = None,
    layer: str | None = None,
    curves: CurveResult | None = None,
    single: Perturbed | None = None,
    region: Perturbed | None = None,
    region_box: Sequence[float] | None = None,
    patch: int | None = None,
) -> PerturbationResult:
    """Assemble the typed perturbation result from whatever was computed.

    Args:
        model: The model (its name, version, architecture and weights hash are recorded).
        image: The image's path or name.
        target: The class whose map ranked the pixels.
        order: The order the plain keys (``deletion``, ``deletion_auc`` ...) describe.
        replacement: The replacement mode.
        resolution: ``image`` or ``model``.
        seed: Seed of the noise modes and of the random order.
        original: Every class's probability on the unperturbed image.
        method: The explanation method that made the map; layer its layer.
        curves: Deletion/insertion curves (optional).
        single: One perturbation at one fraction (optional; the panel's slider).
        region: A perturbation of a box (optional), with ``region_box`` in image pixels.
        patch: The ranking's square size (default: the curves' lab's, else 1 = single pixels).

    Raises:
        RadLensError: The curves were not computed for ``order``.
    """
    classes = tuple(model.class_names)
    man = model.manifest
    versions = library_versions()
    fractions: tuple[float, ...] | None = None
    summary, rnd, delta, baseline, orders = OrderSummary(), None, None, None, {}
    convention: str | None = None
    if curves is not None:
        if order not in curves.deletion:
            raise RadLensError(f"the curves were not computed for order {order!r}.")
        fractions = tuple(float(f) for f in curves.fractions)
        summary = OrderSummary.from_dict(curves.summary(order))
        rnd = RandomBand.from_dict(curves.random_summary()) if curves.seeds else None
        delta = DeltaP.from_dict(curves.delta_p(order))
        baseline = curves.baseline.to_dict()
        convention = str(curves.info.get("convention", "custom"))
        orders = {o: OrderSummary.from_dict(curves.summary(o)) for o in curves.deletion}
    fraction, probabilities = None, None
    if single is not None:
        fraction = single.fraction
        if fractions is None:
            fractions = (float(single.fraction),) if single.fraction is not None else None
        if curves is None:
            delta = DeltaP((float(single.fraction),) if single.fraction is not None else (),
                           {c: (float(v),) for c, v in zip(classes, single.delta_p, strict=True)})
        probabilities = single.by_class(single.probabilities)
    region_result = None
    if region is not None:
        region_result = RegionResult(tuple(float(v) for v in (region_box or [])),
                                     region.by_class(region.probabilities), region.by_class(region.delta_p),
                                     int(region.k))
    definitions = dict(DEFINITIONS)
    extra: dict[str, Any] = {}
    if man.is_regression:  # the scores are predicted values: say so, with the units (keys beyond the contract)
        extra = {"task": "regression", "units": {c: man.unit(i) for i, c in enumerate(classes)}}
        definitions["regression"] = REGRESSION_DEFINITION
    return PerturbationResult(
        target=target, image=str(image), classes=classes,
        original={c: float(p) for c, p in zip(classes, original, strict=True)},
        model={"name": man.name, "version": man.version, "sha256": model.weights_sha256,
               "architecture": man.architecture},
        app={"name": "radlens", "version": versions.get("radlens", "unknown")},
        mode=replacement.mode, mode_params=replacement.to_dict()["params"], method=method, layer=layer,
        order=order, resolution=resolution, seed=int(seed),
        patch=int(patch if patch is not None else (curves.info.get("patch", 1) if curves is not None else 1)),
        versions=versions, created=datetime.now(UTC).isoformat(timespec="seconds"), definitions=definitions,
        fractions=fractions, summary=summary, random=rnd, delta_p=delta, baseline=baseline,
        curves_convention=convention, orders=orders,
        fraction=fraction, probabilities=probabilities, region=region_result, extra=extra,
    )


def write_document(doc: PerturbationResult | Mapping[str, Any], path: str | Path) -> Path:
    """Write the result as JSON, atomically (a plain dict is checked and typed first)."""
    PerturbationResult.from_dict(doc, path).to_json(path)
    return Path(path)


def read_document(path: str | Path) -> PerturbationResult:
    """Read and check a perturb.json (any file written by this schema, old ones included)."""
    return PerturbationResult.from_json(Path(path))


def curves_csv(curves: CurveResult) -> str:
    """One row per fraction: the target's curves per order, the random band, every class's Δp."""
    orders = list(curves.deletion)
    head = ["fraction"]
    for o in orders:
        head += [f"deletion_{o}", f"insertion_{o}"]
    rnd = curves.random_summary() if curves.seeds else None
    if rnd:
        head += ["random_deletion_mean", "random_deletion_sd", "random_insertion_mean", "random_insertion_sd"]
    first = orders[0]
    dp = curves.delta_p(first)["by_class"]
    head += [f"delta_p_{first}[{c}]" for c in curves.class_names]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for j, f in enumerate(curves.fractions):
        row: list[Any] = [f]
        for o in orders:
            row += [curves.scores("deletion", o)[j], curves.scores("insertion", o)[j]]
        if rnd:
            row += [rnd["deletion_mean"][j], rnd["deletion_sd"][j], rnd["insertion_mean"][j], rnd["insertion_sd"][j]]
        row += [dp[c][j] for c in curves.class_names]
        w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()
