"""``perturb.json``: the perturbation result in the team's schema (format ``radlens.perturbation``).

Written by ``radlens perturb``, stored by the viewer's perturbation panel in
``state.perturbation`` and rendered by the report. Keys may be absent when not computed. Beyond
the contract's keys the document may hold ``baseline`` (the insertion start),
``curves_convention`` (``radlens``, ``rise`` or ``custom``: see :mod:`engine.perturb.curves`), ``orders`` (the
same summary for every order run, e.g. ``lerf``), ``fraction`` (a single slider step),
``definitions`` and ``created``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import RadLensError
from engine.models.bundle import LoadedModel
from engine.perturb.curves import CurveResult
from engine.perturb.lab import Perturbed
from engine.perturb.replace import Replacement
from engine.runtime import library_versions

FORMAT = "radlens.perturbation"
SCHEMA_VERSION = 1
DEFINITIONS = {
    "k": "pixels replaced at fraction f: floor(f * N + 0.5) of the N rankable pixels; ties by stable sort",
    "patch": "1: pixels are ranked one by one; p > 1: p x p squares ranked by their mean relevance (random: "
             "a random order of squares), pixels following square by square",
    "auc": "normalised AUC = trapezoid(p, f) / (f_max - f_min), the curve's mean height over its fractions",
    "aopc": "mean over the fractions of (p_original - p_deleted(f)) (Samek et al. 2017)",
    "delta_p": "p_original - p_perturbed for every class (positive: the class lost probability)",
    "random": "mean and sample sd (ddof=1) over the random orders' seeds",
    "insertion": "start with every pixel replaced by the baseline, restore the first k pixels of the order",
}
REQUIRED = ("format", "schema_version", "app", "model", "image", "class", "mode", "classes", "original")


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
) -> dict[str, Any]:
    """Assemble a perturb.json document from whatever was computed.

    Args:
        model: The model (its name, version and weights hash are recorded).
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
    """
    classes = list(model.class_names)
    doc: dict[str, Any] = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION,
        "app": {"name": "radlens", "version": library_versions().get("radlens", "unknown")},
        "model": {"name": model.manifest.name, "version": model.manifest.version, "sha256": model.weights_sha256},
        "image": str(image), "method": method, "layer": layer, "class": target,
        "mode": replacement.mode, "mode_params": replacement.to_dict()["params"],
        "order": order, "resolution": resolution, "seed": int(seed),
        "patch": int(patch if patch is not None else (curves.info.get("patch", 1) if curves is not None else 1)),
        "classes": classes,
        "original": {c: float(p) for c, p in zip(classes, original, strict=True)},
        "definitions": dict(DEFINITIONS),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if curves is not None:
        if order not in curves.deletion:
            raise RadLensError(f"the curves were not computed for order {order!r}.")
        doc["fractions"] = list(curves.fractions)
        doc.update(curves.summary(order))
        doc["random"] = curves.random_summary() if curves.seeds else None
        doc["delta_p"] = curves.delta_p(order)
        doc["baseline"] = curves.baseline.to_dict()
        doc["curves_convention"] = curves.info.get("convention", "custom")
        doc["orders"] = {o: curves.summary(o) for o in curves.deletion}
        if not curves.seeds:
            doc.pop("random")
    if single is not None:
        doc["fraction"] = single.fraction
        doc.setdefault("fractions", [single.fraction])
        if curves is None:
            doc["delta_p"] = {"fractions": [single.fraction],
                              "by_class": {c: [float(v)] for c, v in zip(classes, single.delta_p, strict=True)}}
        doc["probabilities"] = single.by_class(single.probabilities)
    if region is not None:
        doc["region"] = {"box": [float(v) for v in (region_box or [])],
                         "probabilities": region.by_class(region.probabilities),
                         "delta_p": region.by_class(region.delta_p), "pixels": int(region.k)}
    return doc


def check_document(doc: Mapping[str, Any]) -> None:
    """Raise if ``doc`` is not a perturb.json of this schema (used when reading one back)."""
    missing = [k for k in REQUIRED if k not in doc]
    if doc.get("format") != FORMAT or doc.get("schema_version") != SCHEMA_VERSION or missing:
        raise RadLensError(f"not a RadLens perturbation document of schema {SCHEMA_VERSION} "
                           f"(format={doc.get('format')!r}, missing keys {missing}).")


def write_document(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write the document as JSON, atomically."""
    check_document(doc)
    atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return Path(path)


def read_document(path: str | Path) -> dict[str, Any]:
    """Read and check a perturb.json."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RadLensError(f"cannot read a perturbation document: {exc}", path=path) from exc
    check_document(doc)
    return doc


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
