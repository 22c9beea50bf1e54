"""The ``robustness`` block: heatmap movement and ΔAUC under the five global corruptions, severities 1-5.

Per image, model and method, :func:`engine.perturb.robustness.robustness` corrupts the image at model
resolution (:func:`engine.perturb.corruptions.corrupt`, seeded per image) and explains it again at
every layer; per class it returns the corrupted probability and the RMSE / SSIM between the clean and
the corrupted map (on the clean map's min-max scale by default). One row per image x method x layer x
class holds them as lists aligned with ``conditions`` (``corruption:severity``).

Tables (from the store alone):

* ``robustness.csv``: per explanation x class x corruption x severity, the AUC over the data set on
  clean and on corrupted images and ``delta_auc = auc_corrupted - auc_clean``, the map RMSE and SSIM
  (mean, sample std over images). The class ``all`` row: the mean of the classes' AUCs and ΔAUCs
  (classes with both labels) and the RMSE / SSIM over every map. ``n`` counts images, ``n_maps`` the
  maps the RMSE / SSIM statistics are over (images x classes in the ``all`` row, less flat clean maps).
* ``robustness_correlation.csv``: per explanation x class, across the corruption x severity
  conditions, the Pearson and Spearman correlation between map change (mean RMSE; mean SSIM) and ΔAUC.

Figure ``robustness.png``: mean map RMSE by severity per corruption (one line per layer), and ΔAUC
against map RMSE over all conditions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import (
    EXPLANATION,
    auc,
    by_explanation,
    csv_text,
    fmt,
    image_seed,
    mean_std,
    pearson,
    spearman,
)

if TYPE_CHECKING:
    from training.study.score import Task

SCALES = ("clean", "per_map")
ALL_CLASSES = "all"


class RobustnessBlock(Block):
    """ΔAUC and heatmap RMSE / SSIM per layer x corruption x severity, and their correlation per layer."""

    name = "robustness"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"robustness": ("corruptions", "severities", "seed", "scale")}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("conditions", pa.list_(pa.string())), ("p_clean", pa.float64()), ("p_corrupted", pa.list_(pa.float64())),
        ("map_rmse", pa.list_(pa.float64())), ("map_ssim", pa.list_(pa.float64())),
    )

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The block name and settings, and the flat-clean-map rule (no movement, null, rather than RMSE /
        SSIM on a unit range): rows scored under the older rule have another parameters hash, so a
        resume never mixes the two."""
        return {"block": self.name, **settings, "flat_clean_map": "no-movement"}

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``robustness: {corruptions, severities, seed, scale}``."""
        from engine.perturb.corruptions import CORRUPTIONS, SEVERITIES

        sec = v.mapping(doc.get("robustness"), "robustness", self.sections["robustness"])
        corruptions = v.strings(sec.get("corruptions", list(CORRUPTIONS)), "robustness.corruptions",
                                ", ".join(CORRUPTIONS))
        for i, c in enumerate(corruptions):
            v.choice(c, f"robustness.corruptions[{i}]", CORRUPTIONS)
        if len(set(corruptions)) != len(corruptions):
            v.bad("robustness.corruptions", "a corruption is listed twice", "each corruption once")
        raw = sec.get("severities", list(SEVERITIES))
        severities: list[int] = []
        if not isinstance(raw, list) or not raw:
            v.bad("robustness.severities", "must be a non-empty list", "integers 1..5")
        else:
            for i, s in enumerate(raw):
                if isinstance(s, bool) or not isinstance(s, int) or s not in SEVERITIES:
                    v.bad(f"robustness.severities[{i}]", f"{s!r} is not allowed", "an integer 1..5")
                elif s in severities:
                    v.bad(f"robustness.severities[{i}]", f"severity {s} is listed twice", "each severity once")
                else:
                    severities.append(s)
        seed = sec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            v.bad("robustness.seed", f"{seed!r} is not allowed", "an integer >= 0")
            seed = 0
        scale = v.choice(sec.get("scale", "clean"), "robustness.scale", SCALES) or "clean"
        return {"corruptions": list(corruptions), "severities": severities, "seed": int(seed), "scale": scale}

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One :func:`engine.perturb.robustness.robustness` run per method and parameter set, all its layers."""
        from engine.perturb.robustness import robustness

        groups: dict[tuple[str, str], list[Task]] = defaultdict(list)
        for t in tasks:
            groups[(t.method, json.dumps(t.params, sort_keys=True))].append(t)
        conditions = [f"{c}:{s}" for c in settings["corruptions"] for s in settings["severities"]]
        rows: list[dict[str, Any]] = []
        for (method, _), group in groups.items():
            layers = [t.layer for t in group if t.layer]
            doc = robustness(job.model, job.image, method=method, layers=layers or None,
                             corruptions=settings["corruptions"], severities=settings["severities"],
                             seed=image_seed(int(settings["seed"]), job.item.image), scale=settings["scale"],
                             method_params=dict(group[0].params))
            got = [f"{e['corruption']}:{e['severity']}" for e in doc["results"]]
            assert got == conditions, (got, conditions)
            for task in group:
                key = task.layer or "input"
                for ci, c in enumerate(job.plan.class_names):
                    row = common_row(job, task, ci)
                    row.update({
                        "conditions": conditions, "p_clean": float(doc["clean"][c]),
                        "p_corrupted": [float(e["probabilities"][c]) for e in doc["results"]],
                        "map_rmse": [_num(e["maps"][key][c]["rmse"]) for e in doc["results"]],
                        "map_ssim": [_num(e["maps"][key][c]["ssim"]) for e in doc["results"]],
                    })
                    rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``robustness.csv`` and ``robustness_correlation.csv`` (see the module docstring)."""
        body, corr = [], []
        for key, group in by_explanation(rows):
            conditions: list[str] = list(group[0]["conditions"])
            per_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in group:
                per_class[str(r["class"])].append(r)
            stats: dict[str, list[dict[str, float | int | None]]] = {}
            for cls, crs in per_class.items():
                labels = [int(r["label"]) for r in crs]
                clean = auc(labels, [float(r["p_clean"]) for r in crs])
                stats[cls] = []
                for k in range(len(conditions)):
                    corrupted = auc(labels, [float(r["p_corrupted"][k]) for r in crs])
                    rmse = mean_std([r["map_rmse"][k] for r in crs])
                    ssim = mean_std([r["map_ssim"][k] for r in crs])
                    delta = corrupted - clean if corrupted is not None and clean is not None else None
                    stats[cls].append({"n": len(crs), "auc_clean": clean, "auc_corrupted": corrupted,
                                       "delta_auc": delta, "rmse_mean": rmse[0], "rmse_std": rmse[1],
                                       "ssim_mean": ssim[0], "ssim_std": ssim[1], "n_maps": rmse[2]})
            every = [r for crs in per_class.values() for r in crs]
            stats[ALL_CLASSES] = []
            for k in range(len(conditions)):
                defined = [stats[c][k] for c in per_class if stats[c][k]["delta_auc"] is not None]
                rmse = mean_std([r["map_rmse"][k] for r in every])
                ssim = mean_std([r["map_ssim"][k] for r in every])
                stats[ALL_CLASSES].append({
                    "n": len({r["image"] for r in every}),
                    "auc_clean": mean_std([s["auc_clean"] for s in defined])[0],
                    "auc_corrupted": mean_std([s["auc_corrupted"] for s in defined])[0],
                    "delta_auc": mean_std([s["delta_auc"] for s in defined])[0],
                    "rmse_mean": rmse[0], "rmse_std": rmse[1], "ssim_mean": ssim[0], "ssim_std": ssim[1],
                    "n_maps": rmse[2]})
            for cls in [*sorted(per_class), ALL_CLASSES]:
                for k, cond in enumerate(conditions):
                    s = stats[cls][k]
                    corruption, _, severity = cond.partition(":")
                    body.append([*key, cls, corruption, severity, s["n"], *(fmt(s[f]) for f in (
                        "auc_clean", "auc_corrupted", "delta_auc", "rmse_mean", "rmse_std", "ssim_mean", "ssim_std")),
                        s["n_maps"]])
                pairs = [(s["rmse_mean"], s["ssim_mean"], s["delta_auc"]) for s in stats[cls]
                         if s["delta_auc"] is not None and s["rmse_mean"] is not None and s["ssim_mean"] is not None]
                rm, ss, da = ([p[i] for p in pairs] for i in range(3))
                corr.append([*key, cls, len(pairs), fmt(pearson(rm, da)), fmt(spearman(rm, da)),
                             fmt(pearson(ss, da)), fmt(spearman(ss, da))])
        return {
            "robustness.csv": csv_text([*EXPLANATION, "class", "corruption", "severity", "n", "auc_clean",
                                    "auc_corrupted", "delta_auc", "rmse_mean", "rmse_std", "ssim_mean", "ssim_std",
                                    "n_maps"],
                                   body),
            "robustness_correlation.csv": csv_text([*EXPLANATION, "class", "n_conditions", "pearson_rmse_delta_auc",
                                                "spearman_rmse_delta_auc", "pearson_ssim_delta_auc",
                                                "spearman_ssim_delta_auc"], corr),
        }

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """``robustness.png`` drawn from ``robustness.csv`` (class ``all``)."""
        from training.study.figures import robustness_figure

        figure = robustness_figure(Path(out))
        return [figure] if figure is not None else []


def _num(v: Any) -> float | None:
    """A stored map movement: None where the clean map was flat (no scale to move on)."""
    return None if v is None else float(v)
