"""Assembling a :class:`ReportInput` — the one path used by both the CLI and the viewer.

:func:`build_report_input` takes the pieces (image, model, explanation, classes, threshold,
boxes, perturbation) and checks that they belong together; :func:`from_viewer_state` reads them
from the viewer's state so that the app's report shows exactly what was on screen (its threshold,
its localisation, the user's boxes, its perturbation run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.perturb.result import FORMAT as PERTURBATION_FORMAT
from engine.perturb.result import SCHEMA_VERSION as PERTURBATION_SCHEMA
from engine.perturb.result import PerturbationDocumentError, PerturbationResult
from engine.report.errors import NothingExplainedError, ReportInputError
from engine.report.model import ModelCard, ReportInput


def app_version() -> str:
    """The installed RadLens version (``"unknown"`` from a source tree without metadata)."""
    from engine.annotations.sidecar import app_version as _version

    return _version()


def check_perturbation(
    p: PerturbationResult | Mapping[str, Any] | None, model: ModelCard, source: str = ""
) -> PerturbationResult | None:
    """The typed perturbation result of ``p`` (a result or a ``perturb.json`` dict), checked to be of this model.

    Raises:
        ReportInputError: Not a perturbation document of this schema, or computed with other weights.
    """
    if p is None:
        return None
    where = {"path": source} if source else {}
    if not isinstance(p, Mapping) or p.get("format") != PERTURBATION_FORMAT:
        found = p.get("format") if isinstance(p, Mapping) else type(p).__name__
        raise ReportInputError(f"not a RadLens perturbation result (format {found!r}).",
                               fix="pass the perturb.json written by radlens perturb.", **where)
    if p.get("schema_version") != PERTURBATION_SCHEMA:
        raise ReportInputError(f"perturbation schema_version {p.get('schema_version')!r} is not supported "
                               f"(this RadLens reads {PERTURBATION_SCHEMA}).", fix="re-run radlens perturb.", **where)
    sha = (p.get("model") or {}).get("sha256")
    if sha and sha != model.weights_sha256:
        raise ReportInputError(
            f"the perturbation was computed with other model weights (SHA-256 {sha[:12]}…, report model "
            f"{model.weights_sha256[:12]}…).", fix="re-run radlens perturb with the report's model.", **where)
    try:
        return PerturbationResult.from_dict(p, source or None)
    except PerturbationDocumentError as exc:
        raise ReportInputError(f"not a RadLens perturbation result: {exc.problem}",
                               fix="pass the perturb.json written by radlens perturb.", **where) from exc


def resolve_classes(explanation: Any, classes: str | Iterable[str] | None) -> tuple[str, ...]:
    """Classes for the report: a list, ``"all"`` explained, ``"predicted"`` positive and explained.

    Raises:
        NothingExplainedError: The selection is empty.
        ReportInputError: A named class is not one of the model's, or has no map.
    """
    explained = tuple(explanation.explained)
    if getattr(explanation, "is_regression", False) and (classes is None or classes == "predicted"):
        return explained  # a regression model has values, not positive calls: every output gets a page
    if classes is None or classes == "predicted":
        chosen = tuple(c for c in explanation.predicted() if c in explained)
        if not chosen:
            raise NothingExplainedError(
                "no explained class reaches its decision threshold, so there is nothing to report by default.",
                fix="name the classes to report, e.g. --classes 'Cardiomegaly,Pneumothorax', or --classes all.")
        return chosen
    if classes == "all":
        return explained
    names = [classes] if isinstance(classes, str) else list(classes)
    lookup = {c.lower(): c for c in explanation.class_names}
    out = []
    for n in names:
        real = lookup.get(n.strip().lower())
        if real is None:
            raise ReportInputError(f"unknown class {n!r}; the model's classes are: "
                                   f"{', '.join(explanation.class_names)}.",
                                   fix="use one of those names (comma-separated).")
        if real not in explained:
            raise ReportInputError(f"class {real!r} was not explained (explained: {', '.join(explained)}).",
                                   fix="explain it first, or choose among the explained classes.")
        if real not in out:
            out.append(real)
    if not out:
        raise NothingExplainedError("no class was given for the report.", fix="name at least one class.")
    return tuple(out)


def build_report_input(
    image: Any, model: Any, explanation: Any, classes: str | Iterable[str] | None = None, *,
    threshold: str = "top:0.05", ground_truth: Any = None, user_boxes: Any = None,
    localisation: Mapping[str, Any] | None = None, perturbation: PerturbationResult | Mapping[str, Any] | None = None,
    perturbation_source: str = "", deidentify: bool = False, created: datetime | None = None,
    image_label: str = "", command: str = "", **options: Any,
) -> ReportInput:
    """Check that the pieces belong together and assemble the report's input.

    Args:
        image: The ``StudyImage`` explained.
        model: A ``LoadedModel`` or a :class:`ModelCard`.
        explanation: The ``ExplanationResult`` (None raises :class:`NothingExplainedError`).
        classes: See :func:`resolve_classes`.
        threshold: The threshold that cuts the maps into boxes.
        ground_truth: Ground-truth ``AnnotationSet`` or None.
        user_boxes: The user's ``AnnotationSet`` or None.
        localisation: Class -> ``ClassLocalisation`` already shown (kept as is); missing classes are
            localised here with ``engine.analysis.localise`` against both box sets.
        perturbation: A :class:`PerturbationResult` (or a ``perturb.json`` dict) or None.
        perturbation_source: Its file, for error messages.
        deidentify: Leave identifying data out of the report.
        created: Report time (default: now, UTC).
        image_label: How the image is named (default: its file name).
        command: A command line that reproduces the report.
        **options: Further :class:`ReportInput` fields (``colormap``, ``alpha``, ``title``, ``author``).

    Raises:
        NothingExplainedError: No explanation, or no class to report.
        ReportInputError: The explanation is of another model or image size, or a class is unknown.
    """
    if explanation is None:
        raise NothingExplainedError("nothing has been explained yet.",
                                    fix="run the explanation first (Explain image, or radlens explain).")
    if image is None:
        raise ReportInputError("no image is open.", fix="open the image that was explained.")
    card = model if isinstance(model, ModelCard) else ModelCard.from_model(model)
    sha = (explanation.model or {}).get("weights_sha256")
    if sha and sha != card.weights_sha256:
        raise ReportInputError(
            f"the explanation was made by other model weights (SHA-256 {sha[:12]}…) than the report's model "
            f"({card.weights_sha256[:12]}…).", fix="explain the image again with this model.")
    if tuple(explanation.geometry.image_size) != tuple(image.shape):
        raise ReportInputError(
            f"the explanation is of an image of {explanation.geometry.image_size} pixels, not this one "
            f"({image.shape}).", fix="explain the image shown.", path=getattr(image, "path", None))
    chosen = resolve_classes(explanation, classes)
    locs = dict(localisation or {})
    todo = [c for c in chosen if c not in locs]
    if todo:
        from engine.analysis import localise

        boxes = _merge(ground_truth, user_boxes)
        locs.update(localise(explanation, threshold, boxes, classes=todo))
    return ReportInput(
        image=image, model=card, explanation=explanation, classes=chosen, threshold=str(threshold),
        localisation=locs, ground_truth=ground_truth, user_boxes=user_boxes,
        perturbation=check_perturbation(perturbation, card, perturbation_source), deidentify=deidentify,
        created=created or datetime.now(UTC), app_version=app_version(),
        image_label=image_label or getattr(getattr(image, "path", None), "name", "") or "", command=command,
        **options,
    )


def _merge(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return a.merged(b)


def from_viewer_state(state: Any, *, deidentify: bool = False, created: datetime | None = None,
                      **options: Any) -> ReportInput:
    """The report of what the viewer shows: its image, model, explanation, selected class, threshold,
    localisation, ground truth, the user's boxes and perturbation run.

    ``state`` is a ``viewer.state.ViewerState`` (read by attribute; the engine does not import the viewer).
    The report covers the selected class, or every explained class when none is selected. When the
    state also carries the overlay's look (``colormap``, ``opacity``; optional attributes, None when
    unknown) the heatmaps are drawn with it; otherwise with the report's defaults.
    """
    if getattr(state, "explanation", None) is None:
        raise NothingExplainedError("nothing has been explained yet, so there is nothing to report.",
                                    fix="run the explanation (Explain image) first, then export the report.")
    if getattr(state, "model", None) is None:
        raise ReportInputError("no model is loaded.", fix="choose a model in the Explanation panel.")
    result = state.explanation
    selected = state.selected_class if state.selected_class in tuple(result.explained) else None
    classes = (selected,) if selected else "all"
    threshold = state.threshold or "top:0.05"
    locs = {}
    loc = getattr(state, "localisation", None)
    if loc is not None and selected and loc.class_name == selected:
        locs[selected] = loc
        threshold = loc.threshold
    gt = state.ground_truth if state.ground_truth is not None and len(state.ground_truth.boxes) else None
    user = state.user_boxes if state.user_boxes is not None and len(state.user_boxes.boxes) else None
    path = getattr(state, "image_path", None)
    for attribute, option in (("colormap", "colormap"), ("opacity", "alpha")):
        value = getattr(state, attribute, None)
        if value is not None and option not in options:
            options[option] = str(value) if option == "colormap" else float(value)
    return build_report_input(
        state.image, state.model, result, classes, threshold=threshold, ground_truth=gt, user_boxes=user,
        localisation=locs, perturbation=state.perturbation, deidentify=deidentify, created=created,
        image_label=getattr(path, "name", "") if path is not None else "", **options,
    )
