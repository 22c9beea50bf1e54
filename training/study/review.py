"""The review gallery's data: a study's stored rows as gallery entries, filtered and sorted (Qt-free).

:func:`open_review` reads ``OUT/study.json`` and the Parquet store (:mod:`training.study.store`)
into a :class:`StudyReview`. :meth:`StudyReview.gallery` answers the gallery's question: for one
model and class, the images whose outcome at the model's thresholds (TP/FP/FN/TN) is wanted,
sorted by probability, by the IoU of the first chosen explanation at one threshold and
annotator policy, or by its Δp (the perturbation block's rows: the class's own probability drop when
the top fraction of its map is replaced by one mode), with one :class:`Cell` per chosen explanation
(method, layer, parameters), so
two or more methods are shown side by side. The viewer (``viewer/study_gallery*.py``) draws it.

Outcome convention: ``label`` is the ground truth (1 = the class is present), ``predicted`` is the
stored decision (probability >= the bundle's threshold for the class, as the study ran it):
TP = label and predicted, FP = predicted without label, FN = label not predicted, TN = neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from training.study.errors import StudyError
from training.study.report import STUDY_JSON, read_study_json
from training.study.store import read_results

Outcome = Literal["TP", "FP", "FN", "TN"]
OUTCOMES: tuple[Outcome, ...] = ("TP", "FP", "FN", "TN")
POLICIES = ("mean", "best", "fused")
SORT_KEYS = ("probability", "iou", "delta_p", "image")


def outcome_of(label: int, predicted: bool) -> Outcome:
    """TP / FP / FN / TN of one class on one image (see the module docstring)."""
    if label:
        return "TP" if predicted else "FN"
    return "FP" if predicted else "TN"


@dataclass(frozen=True)
class Explanation:
    """One explanation of a study: a model's method at one layer with one parameter set.

    Attributes:
        model: Weights SHA-256 (the ``model`` key of the rows).
        method: Registry name.
        layer: Layer name (``""`` for input-gradient methods).
        params_hash: The rows' parameters hash.
        params: The method's parameters (defaults filled in), as the study ran them.
    """

    model: str
    method: str
    layer: str
    params_hash: str
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """``method @ layer`` (``method`` alone for input-gradient methods)."""
        return f"{self.method} @ {self.layer}" if self.layer else self.method

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(model, method, layer, params_hash): the explanation's part of a row key."""
        return (self.model, self.method, self.layer, self.params_hash)


@dataclass(frozen=True)
class StudyModel:
    """A model of the study, from ``study.json``.

    Attributes:
        sha256: Weights SHA-256; name, version: as the bundle says.
        path: The bundle folder (to load it again for maps).
        classes: Output classes; thresholds: per-class decision thresholds.
    """

    sha256: str
    name: str
    version: str
    path: str
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]

    def threshold(self, cls: str) -> float:
        """The decision threshold of ``cls``."""
        return self.thresholds[self.classes.index(cls)]


@dataclass(frozen=True)
class Cell:
    """One stored row: an image's class under one explanation.

    Attributes:
        explanation: The explanation of the row.
        thresholds: The threshold grid (engine threshold text, e.g. ``top:0.05``, ``otsu``).
        iou: Policy -> IoU per threshold (None where not computed: no ground-truth box).
        pointing: Pointing game hit (None without ground truth); energy: energy pointing game.
    """

    explanation: Explanation
    thresholds: tuple[str, ...]
    iou: dict[str, tuple[float | None, ...]]
    pointing: bool | None
    energy: float | None
    delta_p: dict[tuple[str, float], float] = field(default_factory=dict, compare=False)

    def delta_p_at(self, mode: str, fraction: float) -> float | None:
        """The class's own Δp (p_original - p_replaced) when the top ``fraction`` of its map is replaced
        by ``mode``; None when the class was not a perturbation target on this image (or no Δp was stored)."""
        return self.delta_p.get((mode, float(fraction)))

    def iou_at(self, threshold: str, policy: str = "mean") -> float | None:
        """The IoU at ``threshold`` under ``policy``; None when it was not computed.

        Raises:
            StudyError: ``threshold`` is not in the grid or ``policy`` is unknown.
        """
        if policy not in POLICIES:
            raise StudyError(f"unknown annotator policy {policy!r}.", fix=f"use one of: {', '.join(POLICIES)}.")
        if threshold not in self.thresholds:
            raise StudyError(f"threshold {threshold!r} is not in this study's grid.",
                             fix=f"use one of: {', '.join(self.thresholds)}.")
        values = self.iou.get(policy, ())
        return values[self.thresholds.index(threshold)] if values else None


@dataclass(frozen=True)
class GalleryEntry:
    """One image of the gallery for one model and class, with a cell per chosen explanation.

    Attributes:
        image: Path relative to the data folder (the rows' ``image`` key); path: the file.
        cls: The class; probability, label, predicted, outcome: the model's decision on it.
        n_gt_boxes: Ground-truth boxes of the class on the image.
        cells: One per chosen explanation, in the order asked (None where the store has no row).
    """

    image: str
    path: Path
    cls: str
    probability: float
    label: int
    predicted: bool
    outcome: Outcome
    n_gt_boxes: int
    cells: tuple[Cell | None, ...]

    def iou(self, threshold: str, policy: str = "mean", index: int = 0) -> float | None:
        """IoU of the ``index``-th explanation's cell (None when missing or not computed)."""
        cell = self.cells[index] if index < len(self.cells) else None
        return cell.iou_at(threshold, policy) if cell is not None else None

    def delta_p(self, mode: str, fraction: float, index: int = 0) -> float | None:
        """Own Δp of the ``index``-th explanation's cell (None when missing or not a target)."""
        cell = self.cells[index] if index < len(self.cells) else None
        return cell.delta_p_at(mode, fraction) if cell is not None else None


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


class StudyReview:
    """A study folder read for review: its models, explanations, classes and stored rows.

    Args:
        out: The study's ``OUT`` folder.
        study: ``study.json`` as a dict.
        rows: The stored result rows (:func:`training.study.store.read_results` as Python dicts).
    """

    def __init__(self, out: Path, study: dict[str, Any], rows: list[dict[str, Any]],
                 perturbation_rows: Sequence[dict[str, Any]] = ()) -> None:
        self.out = Path(out)
        self.study = study
        data = study.get("data", {})
        self.data_folder = Path(str(data.get("folder", "")))
        ann = data.get("annotations")
        # the classification layouts have no box file the viewer reads: a labels CSV, or (class folders)
        # the data folder itself
        boxes = data.get("format") not in ("classification_csv", "class_folders")
        self.annotations: Path | None = Path(str(ann)) if ann and boxes and not Path(str(ann)).is_dir() else None
        self.models: tuple[StudyModel, ...] = tuple(
            StudyModel(str(m["sha256"]), str(m.get("name", "")), str(m.get("version", "")), str(m.get("path", "")),
                       tuple(m.get("classes", ())), tuple(float(t) for t in m.get("thresholds", ())))
            for m in study.get("models", []))
        self._rows: dict[tuple[str, str, str, str, str, str], dict[str, Any]] = {}
        explanations: dict[tuple[str, str, str, str], Explanation] = {}
        for r in rows:
            e = Explanation(r["model"], r["method"], r["layer"] or "", r["params_hash"],
                            json.loads(r["params"]) if r.get("params") else {})
            explanations.setdefault(e.key, e)
            self._rows[(*e.key, r["image"], r["class"])] = r
        self.explanations: tuple[Explanation, ...] = tuple(sorted(explanations.values(), key=lambda e: e.key))
        self.images: tuple[str, ...] = tuple(sorted({r["image"] for r in rows}))
        # Δp from the perturbation block's rows, matched to an explanation by model, method, layer and
        # parameters (the block's own settings make its parameters hash differ from the localisation rows')
        self._dp: dict[tuple[str, str, str, str, str, str], dict[tuple[str, float], float]] = {}
        self._dp_grid: dict[tuple[str, str, str, str], tuple[tuple[str, ...], tuple[float, ...]]] = {}
        for r in perturbation_rows:
            if r.get("dp_delta") is None:
                continue
            ident = (r["model"], r["method"], r["layer"] or "", _params_text(r.get("params")))
            modes, fractions, affected = list(r["dp_modes"]), [float(f) for f in r["dp_fractions"]], \
                list(r["dp_classes"])
            if r["class"] not in affected:
                continue
            c = affected.index(r["class"])
            flat = r["dp_delta"]
            own = {(m, f): float(flat[(mi * len(fractions) + fi) * len(affected) + c])
                   for mi, m in enumerate(modes) for fi, f in enumerate(fractions)}
            self._dp[(*ident, r["image"], r["class"])] = own
            self._dp_grid.setdefault(ident, (tuple(modes), tuple(fractions)))
        known = [c for m in self.models for c in m.classes]
        stored = sorted({r["class"] for r in rows} - set(known))
        self.classes: tuple[str, ...] = tuple(dict.fromkeys([*known, *stored]))

    # --- lookup ------------------------------------------------------------------------------------
    def model(self, sha256: str) -> StudyModel:
        """The study model with these weights.

        Raises:
            StudyError: ``study.json`` lists no such model.
        """
        for m in self.models:
            if m.sha256 == sha256:
                return m
        raise StudyError(f"study.json lists no model with weights {sha256[:12]}….", path=self.out / STUDY_JSON,
                         fix="re-run `radlens study report OUT` or the study with --resume to rewrite study.json.")

    def explanations_of(self, model: str) -> tuple[Explanation, ...]:
        """The explanations stored for ``model`` (sorted by method, layer, parameters hash)."""
        return tuple(e for e in self.explanations if e.model == model)

    def thresholds_of(self, explanation: Explanation) -> tuple[str, ...]:
        """The threshold grid the explanation's rows were scored at."""
        for key, r in self._rows.items():
            if key[:4] == explanation.key:
                return tuple(r["thresholds"] or ())
        return ()

    def path_of(self, image: str) -> Path:
        """The file of a row's ``image`` (relative to the data folder; absolute paths stay)."""
        p = Path(image)
        return p if p.is_absolute() else self.data_folder / p

    def cell(self, explanation: Explanation, image: str, cls: str) -> Cell | None:
        """The stored row of (explanation, image, class) as a :class:`Cell`, or None."""
        r = self._rows.get((*explanation.key, image, cls))
        if r is None:
            return None
        iou = {p: tuple(_num(v) for v in r[f"iou_{p}"]) if r.get(f"iou_{p}") is not None else () for p in POLICIES}
        dp = self._dp.get((*self._dp_ident(explanation), image, cls), {})
        return Cell(explanation, tuple(r.get("thresholds") or ()), iou, r.get("pointing"), _num(r.get("energy")), dp)

    def _dp_ident(self, explanation: Explanation) -> tuple[str, str, str, str]:
        return (explanation.model, explanation.method, explanation.layer, _params_text(explanation.params))

    def delta_p_grid(self, explanation: Explanation) -> tuple[tuple[str, ...], tuple[float, ...]]:
        """(replacement modes, fractions) of the Δp stored for the explanation; empty without Δp rows."""
        return self._dp_grid.get(self._dp_ident(explanation), ((), ()))

    # --- the gallery --------------------------------------------------------------------------------
    def gallery(
        self,
        cls: str,
        explanations: Sequence[Explanation],
        *,
        outcomes: Iterable[str] = OUTCOMES,
        sort_by: str = "probability",
        threshold: str | None = None,
        policy: str = "mean",
        descending: bool = True,
        mode: str | None = None,
        fraction: float | None = None,
    ) -> list[GalleryEntry]:
        """The gallery of one class under one or more explanations of one model.

        Args:
            cls: The class.
            explanations: The explanations shown side by side (same model); the first one's
                cells decide the IoU sort.
            outcomes: Outcomes kept (TP/FP/FN/TN).
            sort_by: ``probability``, ``iou`` (of the first explanation at ``threshold`` and
                ``policy``; images without an IoU come last, in image order) or ``image``.
            threshold: Threshold for ``iou`` (from the first explanation's grid).
            policy: Annotator policy for ``iou``: ``mean``, ``best`` or ``fused``.
            descending: Highest first (probability, IoU, Δp); ignored for ``image``.
            mode, fraction: For ``delta_p``: the replacement mode and the fraction of the class's map
                replaced (from the first explanation's Δp grid); images where the class was not a
                perturbation target (no Δp) come last.

        Raises:
            StudyError: No explanation given, explanations of several models, unknown outcome,
                sort key, policy or threshold.
        """
        if not explanations:
            raise StudyError("no explanation chosen.", fix="choose at least one method/layer of the study.")
        models = {e.model for e in explanations}
        if len(models) != 1:
            raise StudyError("the explanations shown side by side belong to different models.",
                             fix="choose explanations of one model (a gallery shows one model's decisions).")
        wanted = {str(o).upper() for o in outcomes}
        if not wanted <= set(OUTCOMES):
            raise StudyError(f"unknown outcome(s) {sorted(wanted - set(OUTCOMES))}.", fix="use TP, FP, FN, TN.")
        if sort_by not in SORT_KEYS:
            raise StudyError(f"cannot sort by {sort_by!r}.", fix=f"use one of: {', '.join(SORT_KEYS)}.")
        if policy not in POLICIES:
            raise StudyError(f"unknown annotator policy {policy!r}.", fix=f"use one of: {', '.join(POLICIES)}.")
        first = explanations[0]
        if sort_by == "iou":
            grid = self.thresholds_of(first)
            if threshold not in grid:
                raise StudyError(f"threshold {threshold!r} is not in the grid of {first.label}.",
                                 fix=f"use one of: {', '.join(grid)}.")
        if sort_by == "delta_p":
            modes, fractions = self.delta_p_grid(first)
            if not modes:
                raise StudyError(f"the study stored no Δp for {first.label}.",
                                 fix="run the study with the perturbation block (metrics: [localisation, "
                                 "perturbation]) or sort by probability or IoU.")
            if mode not in modes or fraction is None or float(fraction) not in fractions:
                raise StudyError(f"Δp was stored for modes {', '.join(modes)} and fractions "
                                 f"{', '.join(f'{f:g}' for f in fractions)}, not {mode!r} at {fraction!r}.",
                                 fix="choose a mode and fraction of the study's perturbation section.")
        entries = []
        for image in self.images:
            cells = tuple(self.cell(e, image, cls) for e in explanations)
            base = next((self._rows[(*e.key, image, cls)] for e, c in zip(explanations, cells, strict=True)
                         if c is not None), None)
            if base is None:
                continue
            out = outcome_of(int(base["label"]), bool(base["predicted"]))
            if out not in wanted:
                continue
            entries.append(GalleryEntry(image, self.path_of(image), cls, float(base["probability"]),
                                        int(base["label"]), bool(base["predicted"]), out,
                                        int(base.get("n_gt_boxes") or 0), cells))
        return sort_entries(entries, sort_by, threshold=threshold, policy=policy, descending=descending,
                            mode=mode, fraction=fraction)

    def counts(self, cls: str, explanation: Explanation) -> dict[str, int]:
        """How many images of each outcome the class has under one explanation's rows."""
        n: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for e in self.gallery(cls, [explanation]):
            n[e.outcome] += 1
        return n

    # --- tables and figures ---------------------------------------------------------------------------
    def tables(self) -> list[Path]:
        """``OUT/tables/*.csv``, by name."""
        return sorted((self.out / "tables").glob("*.csv"))

    def figures(self) -> list[Path]:
        """``OUT/figures/*.png``, by name."""
        return sorted((self.out / "figures").glob("*.png"))


def _params_text(params: Any) -> str:
    """Method parameters in one canonical JSON text (from a dict or the rows' JSON column)."""
    if isinstance(params, str):
        params = json.loads(params) if params else {}
    return json.dumps(params or {}, sort_keys=True)


def sort_entries(
    entries: list[GalleryEntry], sort_by: str, *, threshold: str | None = None, policy: str = "mean",
    descending: bool = True, mode: str | None = None, fraction: float | None = None,
) -> list[GalleryEntry]:
    """Entries sorted by ``probability``, ``iou`` (first cell; missing IoUs last), ``delta_p`` (first
    cell's own Δp at ``mode`` and ``fraction``; missing last) or ``image``; ties by image.

    Raises:
        StudyError: Unknown sort key, ``iou`` without a threshold, ``delta_p`` without mode and fraction.
    """
    if sort_by == "delta_p":
        if mode is None or fraction is None:
            raise StudyError("sorting by Δp needs a replacement mode and a fraction.",
                             fix="choose one of the study's perturbation modes and fractions.")
        dps = [(e.delta_p(mode, fraction), e) for e in entries]
        have_dp = sorted(((v, e) for v, e in dps if v is not None), key=lambda ve: ve[1].image)
        have_dp.sort(key=lambda ve: ve[0], reverse=descending)
        return [e for _v, e in have_dp] + sorted((e for v, e in dps if v is None), key=lambda e: e.image)
    if sort_by == "image":
        return sorted(entries, key=lambda e: e.image)
    if sort_by == "probability":
        by_image = sorted(entries, key=lambda e: e.image)
        return sorted(by_image, key=lambda e: e.probability, reverse=descending)
    if sort_by == "iou":
        if threshold is None:
            raise StudyError("sorting by IoU needs a threshold.", fix="choose a threshold of the study's grid.")
        scored = [(e.iou(threshold, policy), e) for e in entries]
        have = sorted(((v, e) for v, e in scored if v is not None), key=lambda ve: ve[1].image)
        have.sort(key=lambda ve: ve[0], reverse=descending)
        missing = sorted((e for v, e in scored if v is None), key=lambda e: e.image)
        return [e for _v, e in have] + missing
    raise StudyError(f"cannot sort by {sort_by!r}.", fix=f"use one of: {', '.join(SORT_KEYS)}.")


def open_review(out: str | Path) -> StudyReview:
    """Read a study folder (``study.json`` and ``results/``) for review; no model runs.

    Raises:
        StudyError: ``out`` has no readable ``study.json`` or no stored results.
    """
    folder = Path(out)
    study = read_study_json(folder)
    if "models" not in study:
        raise StudyError("study.json has no models section.", path=folder / STUDY_JSON,
                         fix="re-run the study with --resume to rewrite it.")
    # the gallery reviews localisation rows (robustness and sanity rows carry no boxes; stores written
    # before the block registry have no ``block`` column: all their rows are localisation rows), with the
    # Δp of the perturbation block's rows; a study of the perturbation block alone shows its rows
    stored = read_results(folder).to_pylist()
    rows = [r for r in stored if r.get("block") in (None, "localisation")]
    perturbation = [r for r in stored if r.get("block") == "perturbation"]
    if not rows:
        rows = perturbation
    if not rows:
        raise StudyError("the study has no stored results yet.", path=folder / "results",
                         fix="run it (or resume it) with `radlens study run ... --resume` first.")
    return StudyReview(folder, study, rows, perturbation)
