"""The ``sanity`` block: cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity checks
for saliency maps").

The network's blocks are randomised one after the other, from the head toward the input, and the
image is explained again after each step; per class the randomised map is compared with the original
map: SSIM of the per-map min-max normalised maps (:func:`engine.perturb.robustness.map_movement`,
scikit-image) and the Spearman rank correlation of the raw maps. A method whose map does not change
when the weights it explains are destroyed is not explaining the model.

Cascade (``sanity.cascade: auto``): the network's top-level children that hold parameters, a
``Sequential`` / ``ModuleList`` child expanded one level (ResNet-18: ``fc``, ``layer4.1``,
``layer4.0``, ..., ``layer1.0``, ``bn1``, ``conv1``), in reverse registration order. A randomised
module has every parameter tensor replaced by Gaussian noise with that tensor's own mean and standard
deviation (the weights' scale is kept, their learned structure destroyed; buffers such as BatchNorm
running statistics are kept), drawn from a CPU generator seeded with ``(seed, step)``: the randomised
networks are the same for every image and device. The work is done on a deep copy of the network;
the loaded model is never changed.

Classes (``sanity.classes``): ``all`` (every class of every image) or ``predicted``, the classes
the model calls positive at its thresholds, or its top-scoring class when it calls none. The paper
explains the predicted class; with ``predicted`` an image costs about a third of ``all`` on the
five-class phantom model (SmoothGrad's backward passes are per class: 10.8 s for one class, 35.9 s
for five, 30 samples on one CPU thread).

Table ``sanity.csv``: per explanation x class x step, SSIM and Spearman (mean, sample std over
images), and the mean and std of |Spearman| (Adebayo et al. also report the absolute rank
correlation: a map that turns upside down keeps its structure, and signed values of opposite sign
cancel in a mean over classes); class ``all`` pools every map. Figure ``sanity.png``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import EXPLANATION, by_explanation, csv_text, fmt, mean_std, spearman

if TYPE_CHECKING:
    from torch import nn

    from training.study.score import Task

AUTO = "auto"
ALL_CLASSES = "all"
PREDICTED = "predicted"
CLASS_CHOICES = (ALL_CLASSES, PREDICTED)


def cascade_modules(module: nn.Module) -> list[str]:
    """The automatic cascade of ``module``: head first, then block by block toward the input."""
    from torch import nn

    names: list[str] = []
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential | nn.ModuleList):
            names += [f"{name}.{n}" for n, c in child.named_children() if any(True for _ in c.parameters())]
        elif any(True for _ in child.parameters()):
            names.append(name)
    return names[::-1]


def randomise_(module: nn.Module, seed: int, step: int) -> None:
    """Replace every parameter of ``module`` in place by N(mean, std) of its own values (seeded)."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(int(seed) * 1_000_003 + int(step))
    with torch.no_grad():
        for _name, p in sorted(module.named_parameters(), key=lambda kv: kv[0]):
            cpu = p.detach().to("cpu", torch.float64)
            mean = float(cpu.mean())
            std = float(cpu.std()) if cpu.numel() > 1 else abs(mean)
            noise = torch.randn(cpu.shape, generator=gen, dtype=torch.float64) * (std if np.isfinite(std) else 0.0)
            p.copy_((noise + mean).to(p.dtype))


def cascade(model: Any, names: Sequence[str], seed: int, work: nn.Module | None = None
            ) -> Iterator[tuple[int, str, Any]]:
    """Yield ``(step, module name, randomised model)`` for each cumulative step of the cascade.

    The yielded model holds a copy of ``model``'s network (a ``LoadedModel``), randomised further at
    each step; ``model`` itself is never changed.

    Args:
        model: The loaded model.
        names: Modules to randomise, in order (:func:`cascade_modules`).
        seed: Randomisation seed.
        work: A deep copy of ``model.module`` to reuse (its weights are first reset to the
            model's); None makes a new deep copy. Reusing one copy keeps the engine's per-network
            caches (layer shapes, receptive-field alignment) warm from image to image.
    """
    if work is None:
        net = copy.deepcopy(model.module)
    else:
        net = work
        net.load_state_dict(model.module.state_dict())
    modules = dict(net.named_modules())
    randomised = replace(model, module=net)
    for step, name in enumerate(names):
        randomise_(modules[name], seed, step)
        yield step, name, randomised


def map_similarity(original: np.ndarray, other: np.ndarray) -> tuple[float, float | None]:
    """(SSIM of the per-map min-max normalised maps, Spearman rank correlation of the raw maps)."""
    from engine.perturb.robustness import map_movement

    _rmse, ssim = map_movement(original, other, scale="per_map")
    return float(ssim), spearman(np.asarray(original).ravel(), np.asarray(other).ravel())


class SanityBlock(Block):
    """Map similarity to the original map at each step of a cascading parameter randomisation."""

    name = "sanity"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"sanity": ("cascade", "seed", "max_steps", "classes")}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("cascade", pa.list_(pa.string())), ("sanity_ssim", pa.list_(pa.float64())),
        ("sanity_spearman", pa.list_(pa.float64())),
    )

    def __init__(self) -> None:
        import weakref

        #: The model's network -> the deep copy this block randomises (one per network and process).
        self._copies: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``sanity: {cascade, seed, max_steps, classes}``."""
        sec = v.mapping(doc.get("sanity"), "sanity", self.sections["sanity"])
        raw = sec.get("cascade", AUTO)
        names: list[str] | str = AUTO
        if raw != AUTO:
            names = list(v.strings(raw, "sanity.cascade", "auto, or module names from the head toward the input"))
        ints = {}
        for key in ("seed", "max_steps"):
            value = sec.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                v.bad(f"sanity.{key}", f"{value!r} is not allowed", "an integer >= 0" +
                      (" (0 = every step)" if key == "max_steps" else ""))
                value = 0
            ints[key] = int(value)
        classes = sec.get("classes", ALL_CLASSES)
        if classes not in CLASS_CHOICES:
            v.bad("sanity.classes", f"{classes!r} is not allowed", " or ".join(CLASS_CHOICES))
            classes = ALL_CLASSES
        return {"cascade": names, "seed": ints["seed"], "max_steps": ints["max_steps"], "classes": classes}

    def steps(self, module: nn.Module, settings: dict[str, Any]) -> list[str]:
        """The module names randomised, in order."""
        names = cascade_modules(module) if settings["cascade"] == AUTO else list(settings["cascade"])
        return names[: settings["max_steps"]] if settings["max_steps"] else names

    def check_model(self, model: Any, settings: dict[str, Any]) -> list[str]:
        """Cascade modules the model lacks, or an empty cascade."""
        known = dict(model.module.named_modules())
        names = self.steps(model.module, settings)
        missing = [n for n in names if n not in known or not any(True for _ in known[n].parameters())]
        if missing:
            return [f"sanity.cascade: model {model.name} has no module with parameters named {', '.join(missing)} "
                    f"(automatic cascade: {', '.join(cascade_modules(model.module))})"]
        return [] if names else [f"sanity.cascade: model {model.name} has no module with parameters to randomise"]

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """Explain, then explain again after each cascade step; one row per task x class."""
        from engine import explain

        names = self.steps(job.model.module, settings)
        classes = self.classes(job, settings.get("classes", ALL_CLASSES))

        def maps(model: Any, task: Task) -> dict[str, np.ndarray]:
            r = explain(model, job.image, method=task.method, layers=[task.layer] if task.layer else None,
                        classes=list(classes), **task.params)
            return {c: r.map(c, "model", normalisation="raw") for c in classes}

        original = [maps(job.model, t) for t in tasks]
        ssim: dict[tuple[int, str], list[float]] = defaultdict(list)
        rank: dict[tuple[int, str], list[float | None]] = defaultdict(list)
        if job.model.module not in self._copies:
            self._copies[job.model.module] = copy.deepcopy(job.model.module)
        work = self._copies[job.model.module]
        for _step, _name, randomised in cascade(job.model, names, int(settings["seed"]), work):
            for ti, task in enumerate(tasks):
                now = maps(randomised, task)
                for c in classes:
                    s, r = map_similarity(original[ti][c], now[c])
                    ssim[(ti, c)].append(s)
                    rank[(ti, c)].append(r)
        rows = []
        for ti, task in enumerate(tasks):
            for c in classes:
                row = common_row(job, task, job.plan.class_names.index(c))
                row.update({"cascade": list(names), "sanity_ssim": ssim[(ti, c)],
                            "sanity_spearman": rank[(ti, c)]})
                rows.append(row)
        return rows

    @staticmethod
    def classes(job: ImageJob, which: str) -> list[str]:
        """The classes explained for ``job``: every class, or the predicted ones (the top one when none is)."""
        names = list(job.plan.class_names)
        if which == ALL_CLASSES:
            return names
        p = np.asarray(job.probabilities, dtype=np.float64)
        chosen = [c for i, c in enumerate(names) if p[i] >= job.plan.thresholds[i]]
        return chosen or [names[int(np.argmax(p))]]

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``sanity.csv`` (see the module docstring)."""
        body = []
        for key, group in by_explanation(rows):
            steps: list[str] = list(group[0]["cascade"])
            per_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in group:
                per_class[str(r["class"])].append(r)
            per_class[ALL_CLASSES] = list(group)
            for cls in [*sorted(c for c in per_class if c != ALL_CLASSES), ALL_CLASSES]:
                crs = per_class[cls]
                for k, name in enumerate(steps):
                    s = mean_std([r["sanity_ssim"][k] for r in crs])
                    rho = [r["sanity_spearman"][k] for r in crs]
                    q = mean_std(rho)
                    a = mean_std([abs(v) if v is not None else None for v in rho])
                    body.append([*key, cls, k + 1, name, s[2], fmt(s[0]), fmt(s[1]), q[2], fmt(q[0]), fmt(q[1]),
                                 fmt(a[0]), fmt(a[1])])
        return {"sanity.csv": csv_text([*EXPLANATION, "class", "step", "randomised", "n", "ssim_mean", "ssim_std",
                                    "spearman_n", "spearman_mean", "spearman_std", "abs_spearman_mean",
                                    "abs_spearman_std"], body)}

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """``sanity.png`` drawn from ``sanity.csv`` (class ``all``)."""
        from training.study.figures import sanity_figure

        figure = sanity_figure(Path(out))
        return [figure] if figure is not None else []
