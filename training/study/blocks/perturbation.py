"""The ``perturbation`` block: the Δp table of the localisation protocol, with a random-order band.

Per image, model and method x layer, for every *target* class of the image (``rows``: ``predicted``,
the default -- the classes whose probability reaches the bundle's threshold; ``ground_truth`` -- the
positive labels; ``correct`` -- both), the top ``f`` of that class's map is replaced by each
replacement mode (fractions default 0.02, 0.05, 0.1, 0.2, 0.5; modes default ``mean`` and ``blur``,
any of :data:`engine.perturb.MODES` allowed) and ``Δp = p_original - p_replaced`` of *every* class
is recorded. The random-order control replaces the same number of pixels in a seeded random order
(one order per entry of ``seeds``, each made per image from the seed and the image key) and records
the target class's Δp, averaged over the orders.

The per-image work is :func:`engine.perturb.dataset.delta_table` called on the one image, once per
mode, with the random orders of every seed in one call (the image is explained once per mode).

Store columns, on the target class's row (empty on other classes' rows): ``dp_modes``,
``dp_fractions``, ``dp_classes`` (the affected classes), ``dp_delta`` (Δp flattened mode x fraction x
affected class), ``dp_random`` (the target's random-order Δp, mode x fraction, mean over the seeds).

Table ``delta_p.csv`` (from the store alone): per explanation x subset x target class x mode x
fraction x affected class, ``n`` (images where the class was a target), ``delta_p_mean`` and
``delta_p_std`` (sample std), and on the rows where the affected class is the target, the random
band ``random_mean`` / ``random_std`` over the same images. Subsets: ``all`` (every image where the
class was a target under ``rows``) and ``correct`` (those where it is also labelled positive and
predicted: with ``rows: predicted`` the false positives are left out, as in the localisation
block's ``correct`` subset). Figure ``delta_p.png``: subset ``all``, the target's own Δp by fraction
against its random band.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import EXPLANATION, by_explanation, fmt, image_seed, mean_std

if TYPE_CHECKING:
    from training.study.score import Task

DEFAULT_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5)
DEFAULT_MODES = ("mean", "blur")
DEFAULT_SEEDS = (0, 1, 2)
_KEYS = ("fractions", "modes", "rows", "seeds")
HEADER = (*EXPLANATION, "subset", "target_class", "mode", "fraction", "affected_class", "n", "delta_p_mean",
          "delta_p_std", "random_mean", "random_std")
#: The subsets of ``delta_p.csv`` (see the module docstring).
SUBSETS = ("all", "correct")


class PerturbationBlock(Block):
    """Δp of every class when the top fraction of one class's map is replaced, with a random band."""

    name = "perturbation"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"perturbation": _KEYS}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("dp_modes", pa.list_(pa.string())), ("dp_fractions", pa.list_(pa.float64())),
        ("dp_classes", pa.list_(pa.string())), ("dp_delta", pa.list_(pa.float64())),
        ("dp_random", pa.list_(pa.float64())),
    )

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The block name and settings, and the ranking's tie rule (pixels of equal relevance in one fixed
        pseudo-random order): rows scored under the older row-major rule have another parameters hash,
        so a resume never mixes the two."""
        return {"block": self.name, **settings, "ranking_ties": "fixed-pseudo-random"}

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``perturbation: {fractions, modes, rows, seeds}`` (see ``docs/studies.md``)."""
        from engine.perturb import MODES
        from engine.perturb.dataset import ROW_POLICIES

        sec = v.mapping(doc.get("perturbation"), "perturbation", _KEYS)
        fractions = v.fractions(sec.get("fractions", list(DEFAULT_FRACTIONS)), "perturbation.fractions")
        if not fractions and not any(p.key.startswith("perturbation.fractions") for p in v.problems):
            v.bad("perturbation.fractions", "the grid is empty", "fractions in (0, 1]")
        if len(set(fractions)) != len(fractions):
            v.bad("perturbation.fractions", "a fraction is listed twice", "each fraction once")
        modes = v.strings(sec.get("modes", list(DEFAULT_MODES)), "perturbation.modes", ", ".join(MODES))
        for i, m in enumerate(modes):
            v.choice(m, f"perturbation.modes[{i}]", MODES)
        if len(set(modes)) != len(modes):
            v.bad("perturbation.modes", "a mode is listed twice", "each mode once")
        rows = v.choice(sec.get("rows", "predicted"), "perturbation.rows", ROW_POLICIES) or "predicted"
        raw = sec.get("seeds", list(DEFAULT_SEEDS))
        seeds: list[int] = []
        if not isinstance(raw, list) or not raw:
            v.bad("perturbation.seeds", "must be a non-empty list", "integers >= 0")
        else:
            for i, s in enumerate(raw):
                if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                    v.bad(f"perturbation.seeds[{i}]", f"{s!r} is not allowed", "an integer >= 0")
                elif s in seeds:
                    v.bad(f"perturbation.seeds[{i}]", f"seed {s} is listed twice", "each seed once")
                else:
                    seeds.append(s)
        return {"fractions": sorted(fractions), "modes": list(modes), "rows": rows, "seeds": seeds}

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per task x class; the target classes' rows carry the Δp of every class."""
        from engine.perturb import Replacement
        from engine.perturb.dataset import delta_table

        classes = list(job.plan.class_names)
        fractions = [float(f) for f in settings["fractions"]]
        modes = [str(m) for m in settings["modes"]]
        seeds = [image_seed(int(s), job.item.image) for s in settings["seeds"]]
        gt = [c for c in classes if int(job.item.labels.get(c, 0)) == 1]
        rows: list[dict[str, Any]] = []
        for task in tasks:
            delta: dict[str, list[np.ndarray]] = defaultdict(list)  # target -> per mode (F, C)
            random: dict[str, list[np.ndarray]] = defaultdict(list)  # target -> per mode (F,)
            for mode in modes:
                table = delta_table(job.model, [(job.item.image, job.image, gt)], method=task.method,
                                    layer=task.layer or None, replacement=Replacement.make(mode),
                                    fractions=fractions, rows=str(settings["rows"]), seed=seeds[0],
                                    method_params=dict(task.params), control_seeds=seeds)
                for target in table.rows:
                    delta[target].append(table.rows[target][0])
                    random[target].append(table.control[target][0])
            for ci, c in enumerate(classes):
                row = common_row(job, task, ci)
                row.update({"dp_modes": None, "dp_fractions": None, "dp_classes": None, "dp_delta": None,
                            "dp_random": None})
                if c in delta:
                    row.update({"dp_modes": modes, "dp_fractions": fractions, "dp_classes": classes,
                                "dp_delta": [float(x) for x in np.stack(delta[c]).ravel()],
                                "dp_random": [float(x) for x in np.stack(random[c]).ravel()]})
                rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``delta_p.csv`` (see the module docstring)."""
        body: list[list[Any]] = []
        for key, group in by_explanation(rows):
            targets = [r for r in group if r["dp_delta"] is not None]
            per_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in targets:
                per_class[str(r["class"])].append(r)
            for subset, target in ((sub, t) for sub in SUBSETS for t in sorted(per_class)):
                trs = per_class[target] if subset == "all" else \
                    [r for r in per_class[target] if int(r["label"]) == 1 and r["predicted"]]
                if not trs:
                    continue
                modes, fractions, affected = trs[0]["dp_modes"], trs[0]["dp_fractions"], trs[0]["dp_classes"]
                shape = (len(modes), len(fractions), len(affected))
                delta = np.stack([np.asarray(r["dp_delta"], dtype=np.float64).reshape(shape) for r in trs])
                ctrl = np.stack([np.asarray(r["dp_random"], dtype=np.float64).reshape(shape[:2]) for r in trs])
                for m, mode in enumerate(modes):
                    for j, f in enumerate(fractions):
                        band = mean_std(list(ctrl[:, m, j]))
                        for a, cls in enumerate(affected):
                            mean, std, n = mean_std(list(delta[:, m, j, a]))
                            own = cls == target
                            body.append([*key, subset, target, mode, f"{f:g}", cls, n, fmt(mean), fmt(std),
                                         fmt(band[0]) if own else "", fmt(band[1]) if own else ""])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(body)
        return {"delta_p.csv": buf.getvalue()}

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """``delta_p.png``: each target's own Δp by fraction (one line per mode) against its random band."""
        table = Path(out) / "tables" / "delta_p.csv"
        if not table.is_file():
            return []
        with table.open(newline="") as fh:
            own = [r for r in csv.DictReader(fh) if r["affected_class"] == r["target_class"] and r["delta_p_mean"]
                   and r.get("subset", "all") == "all"]
        if not own:
            return []
        return [_draw(own, Path(out))]


def _draw(own: list[dict[str, str]], out: Path) -> Path:
    """Draw the figure of :meth:`PerturbationBlock.figures` (Agg canvas, written atomically).

    One colour per target class, one line style and marker per replacement mode, the random order
    dotted in the class's colour; one legend above the panels, so that it covers no line.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from training.study.figures import save_figure

    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in own:
        groups[f"{r['model_name']} {r['method']} {r['layer'] or 'input'}"].append(r)
    targets = sorted({r["target_class"] for r in own})
    modes = sorted({r["mode"] for r in own})
    colour = {t: f"C{i % 10}" for i, t in enumerate(targets)}
    dashes: tuple[Literal["-", "--", "-."], ...] = ("-", "--", "-.")
    style = {m: (dashes[i % 3], "osD^v"[i % 5]) for i, m in enumerate(modes)}
    fig = Figure(figsize=(max(6.0, 5 * len(groups)), 4.6))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, (title, rs) in zip(axes[0], sorted(groups.items()), strict=True):
        for target in sorted({r["target_class"] for r in rs}):
            for mode in sorted({r["mode"] for r in rs}):
                line = sorted((r for r in rs if r["target_class"] == target and r["mode"] == mode),
                              key=lambda r: float(r["fraction"]))
                f = [float(r["fraction"]) for r in line]
                ax.plot(f, [float(r["delta_p_mean"]) for r in line], color=colour[target],
                        linestyle=style[mode][0], marker=style[mode][1], markersize=4)
                rnd = [float(r["random_mean"]) if r["random_mean"] else np.nan for r in line]
                ax.plot(f, rnd, linestyle=":", linewidth=1, color=colour[target])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("replaced fraction of the target's map")
        ax.set_ylabel("Δp of the target")
        ax.axhline(0.0, color="grey", linewidth=0.5)
    n_of = {t: max(int(r["n"]) for r in own if r["target_class"] == t) for t in targets}
    handles = [Line2D([], [], color=colour[t], linewidth=2, label=f"{t} (n={n_of[t]})") for t in targets]
    handles += [Line2D([], [], color="black", linestyle=style[m][0], marker=style[m][1], markersize=4,
                       label=f"replaced by {m}") for m in modes]
    handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1, label="random order (mean)"))
    ncol = min(len(handles), max(2, int(fig.get_figwidth() // 2)))  # ~2 inches per legend column
    # long handles, so that dashed and solid line styles can be told apart in the legend
    fig.legend(handles=handles, loc="upper center", ncol=ncol, fontsize=7, frameon=False, handlelength=4)
    rows = -(-len(handles) // ncol)
    return save_figure(fig, out, "delta_p.png", top=1.0 - 0.055 * rows - 0.02)
