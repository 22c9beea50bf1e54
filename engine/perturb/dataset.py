"""The research's Δp table over a data set: when one class's pixels go, how does every class move?

For every image, the model is explained once (all classes); for every *row* class of the image
(predicted, present in ground truth, or both: ``rows``), the top ``f`` of that class's map are
replaced (research fractions 2, 5, 10, 20, 50 %) and every class's ``Δp = p_original - p`` is
recorded. Rows average over the images where the class was a row. A random-order control (same
number of pixels, seeded order) is recorded for the row class itself, which the research lacked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RadLensError
from engine.models.bundle import LoadedModel
from engine.models.lock import model_lock
from engine.perturb.curves import RESEARCH_FRACTIONS, run_curves
from engine.perturb.lab import PerturbationLab
from engine.perturb.replace import Replacement

ROW_POLICIES = ("predicted", "ground_truth", "correct")
TABLE_FORMAT = "radlens.perturbation-table"


@dataclass
class DeltaTable:
    """Per row class, the Δp of every class at each fraction (lists over images until averaged)."""

    class_names: tuple[str, ...]
    fractions: list[float]
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)  # row -> [(F, C)]
    control: dict[str, list[np.ndarray]] = field(default_factory=dict)  # row -> [(F,)] random order
    images: dict[str, list[str]] = field(default_factory=dict)
    score: str = "p"  # what moves: a classifier's probability, or a regression model's value ("value")

    def add(self, row: str, image: str, delta: np.ndarray, random_delta: np.ndarray) -> None:
        self.rows.setdefault(row, []).append(delta)
        self.control.setdefault(row, []).append(random_delta)
        self.images.setdefault(row, []).append(image)

    def mean(self, row: str) -> np.ndarray:
        return np.mean(np.stack(self.rows[row]), axis=0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.class_names:
            if row not in self.rows:
                continue
            stack = np.stack(self.rows[row])
            ctrl = np.stack(self.control[row])
            out[row] = {
                "n": int(stack.shape[0]), "images": self.images[row],
                "delta_p": {f"{f:g}": {c: float(stack[:, j, i].mean()) for i, c in enumerate(self.class_names)}
                            for j, f in enumerate(self.fractions)},
                # sample standard deviation (ddof = 1, as every study table); None for one image
                "delta_p_sd": {f"{f:g}": {c: float(stack[:, j, i].std(ddof=1)) if stack.shape[0] > 1 else None
                                          for i, c in enumerate(self.class_names)}
                               for j, f in enumerate(self.fractions)},
                "random_control": {f"{f:g}": float(ctrl[:, j].mean()) for j, f in enumerate(self.fractions)},
            }
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["row_class", "fraction", "n", *[f"delta_p[{c}]" for c in self.class_names],
                    "random_control[row_class]"])
        for row, entry in self.to_dict().items():
            for f in self.fractions:
                key = f"{f:g}"
                w.writerow([row, key, entry["n"], *[f"{entry['delta_p'][key][c]:.6f}" for c in self.class_names],
                            f"{entry['random_control'][key]:.6f}"])
        return buf.getvalue()

    def to_text(self) -> str:
        """The table as the research prints it: one block per fraction, rows x columns."""
        names = self.class_names
        width = max(12, *(len(c) for c in names)) + 1
        lines = []
        table = self.to_dict()
        for f in self.fractions:
            key = f"{f:g}"
            if self.score == "p":
                lines.append(f"Δp = p_original - p after replacing the row class's top {f * 100:g} % pixels")
            else:
                lines.append(f"Δ = value_original - value after replacing the top {f * 100:g} % pixels of the row "
                             "output's \"raises\" map (values in the outputs' units)")
            lines.append(f"{'row (pixels go)':<{width}}{'n':>4} " + "".join(f"{c[:width - 1]:>{width}}" for c in names)
                         + f"{'random':>{width}}")
            for row, entry in table.items():
                vals = "".join(f"{entry['delta_p'][key][c]:>+{width}.3f}" for c in names)
                ctrl = entry["random_control"][key]
                lines.append(f"{row[:width - 1]:<{width}}{entry['n']:>4} {vals}{ctrl:>+{width}.3f}")
            lines.append("")
        return "\n".join(lines)


def delta_table(
    model: LoadedModel,
    images: Iterable[tuple[str, Any, Sequence[str] | None]],
    *,
    method: str = "gradcam",
    layer: str | None = None,
    replacement: Replacement | None = None,
    fractions: Sequence[float] = RESEARCH_FRACTIONS,
    order: str = "morf",
    rows: str = "predicted",
    resolution: str = "model",
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    patch: int = 1,
    on_image: Callable[[str, list[str]], None] | None = None,
    control_seeds: Sequence[int] = (),
) -> DeltaTable:
    """Average Δp per row class over ``images``: (name, image, ground-truth classes or None) items.

    ``images`` may be a generator; each image is used once and may then be freed. The random control
    is one random order (``seed``), or the mean over the random orders of ``control_seeds`` when
    given (each image is explained and ranked once whatever their number).
    """
    from engine.explainers.api import explain

    if rows not in ROW_POLICIES:
        raise RadLensError(f"unknown row policy {rows!r}.", fix=f"use one of {', '.join(ROW_POLICIES)}.")
    rep = replacement or Replacement.make("mean")
    regression = model.manifest.is_regression
    table = DeltaTable(tuple(model.class_names), [float(f) for f in fractions], score="value" if regression else "p")
    for name, image, gt in images:
        with model_lock(model):  # the image's explanation and curves on an uninterrupted network
            if regression and rows != "predicted":
                raise RadLensError(f"row policy {rows!r} needs classes in the ground truth; a regression model's "
                                   "outputs have none.", path=model.path,
                                   fix="use --rows predicted: every output is a row of a regression model.")
            if rows != "predicted" and gt is None:
                raise RadLensError(f"row policy {rows!r} needs ground truth, and image {name} has none.",
                                   fix="pass --annotations, or use --rows predicted.")
            result = explain(model, image, method, layers=layer, **(method_params or {}))
            # a regression model predicts every output (its "raises" map ranks the pixels)
            predicted = set(model.class_names) if regression else set(result.predicted())
            wanted = {"predicted": predicted, "ground_truth": set(gt or ()),
                      "correct": predicted & set(gt or ())}[rows]
            row_classes = [c for c in model.class_names if c in wanted]
            for c in row_classes:
                if resolution == "model":
                    lab = PerturbationLab(model, image, model_map=result.map(c, "model"), resolution="model",
                                          patch=patch)
                else:
                    lab = PerturbationLab(model, image, result.map(c, "image"), resolution="image", patch=patch)
                if control_seeds:
                    cr = run_curves(lab, c, orders=(order,), replacement=rep, fractions=fractions,
                                    seeds=tuple(int(s) for s in control_seeds), seed=seed, with_insertion=False)
                    ctrl = (cr.original[cr.t] - cr.random_deletion[:, :, cr.t]).mean(axis=0)
                else:
                    cr = run_curves(lab, c, orders=(order, "random"), replacement=rep, fractions=fractions,
                                    seeds=(), seed=seed, with_insertion=False)
                    ctrl = cr.original[cr.t] - cr.deletion["random"][:, cr.t]
                delta = cr.original[None, :] - cr.deletion[order]
                table.add(c, name, delta, ctrl)
        if on_image is not None:
            on_image(name, row_classes)
    return table


def table_document(table: DeltaTable, model: LoadedModel, *, method: str, replacement: Replacement, order: str,
                   rows: str, resolution: str, seed: int, data: str | Path, patch: int = 1) -> dict[str, Any]:
    """The table as a JSON-ready document with provenance."""
    from engine.runtime import library_versions

    return {
        "format": TABLE_FORMAT, "schema_version": 1,
        "app": {"name": "radlens", "version": library_versions().get("radlens", "unknown")},
        "model": {"name": model.manifest.name, "version": model.manifest.version, "sha256": model.weights_sha256},
        "data": str(data), "method": method, "mode": replacement.mode,
        "mode_params": replacement.to_dict()["params"], "order": order, "rows": rows,
        "resolution": resolution, "seed": seed, "patch": int(patch), "classes": list(table.class_names),
        "fractions": table.fractions, "score": table.score,
        "units": {c: model.manifest.unit(i) for i, c in enumerate(model.class_names)} if table.score == "value" else {},
        "definition": ("delta_p = p_original - p after replacing the row class's top fraction of pixels; "
                       "averaged over the images where the class is a row; random_control = the same for a "
                       "random order of the same number of pixels (row class only)") if table.score == "p" else
                      ("delta_p = value_original - value (in the output's unit) after replacing the top fraction "
                       "of pixels of the row output's 'raises' map; every output is a row on every image; "
                       "random_control = the same for a random order of the same number of pixels (row output only)"),
        "table": table.to_dict(),
    }
