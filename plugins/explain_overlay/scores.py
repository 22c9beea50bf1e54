"""Qt-free: localise the selected class and lay its scores out as the IoU table's rows.

The numbers come from :func:`engine.analysis.localise`, the same function ``radlens explain`` and
the report use, so the panel, the CLI and the PDF agree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from engine.analysis import ClassLocalisation, localise
from engine.annotations.model import AnnotationSet
from engine.explainers import ExplanationResult

INLINE_PIXELS = 768 * 768
"""Images up to this many pixels are localised and drawn on the GUI thread; larger ones in the
worker. Measured on 2 CPU cores: localising takes 4-23 ms at 512 x 512 and 300-440 ms at
3000 x 3000; drawing the map (upsampling + RGBA) 40-60 ms at 512 x 512 and 1.0-1.8 s at 3000 x 3000."""


@dataclass(frozen=True)
class ScoreRow:
    """One row of the IoU table.

    Attributes:
        key: Stable identifier (``gt:R8``, ``gt:mean``, ``gt:best``, ``gt:fused``, ``user:mean``,
            ``user:best``, ``pointing``, ``energy``, ``diff``, ``boxes``).
        label: What the row shows, for people.
        value: The number (None when not applicable, e.g. no ground truth of the class).
        text: The value as displayed.
    """

    key: str
    label: str
    value: float | None
    text: str


def merged_annotations(ground_truth: AnnotationSet | None, user_boxes: AnnotationSet | None) -> AnnotationSet:
    """Ground truth and the user's boxes in one set (sources keep them apart)."""
    return (ground_truth or AnnotationSet()).merged(user_boxes or AnnotationSet())


def localise_class(
    result: ExplanationResult, class_name: str, threshold: str, ground_truth: AnnotationSet | None,
    user_boxes: AnnotationSet | None, box_mode: str = "all", min_area: int = 0,
) -> ClassLocalisation:
    """Cut ``class_name``'s map at ``threshold`` and score the boxes against GT and the user.

    The box options are recorded in the result's ``extra`` (``box_mode``, ``min_area``).
    """
    annotations = merged_annotations(ground_truth, user_boxes)
    loc = localise(result, threshold, annotations, box_mode=box_mode, min_area=min_area, classes=[class_name])
    return dataclasses.replace(loc[class_name], extra={"box_mode": box_mode, "min_area": int(min_area)})


def describe_class(result: ExplanationResult, loc: ClassLocalisation, image: Any,
                   ground_truth: AnnotationSet | None) -> tuple[list[str], str]:
    """The class's boxes in words (:mod:`engine.localise.describe`): patient's side, zone, size, shape, IoU.

    Returns:
        The sentences and one line saying where the patient's side comes from: the file's
        orientation, or assumed (no orientation: the radiographic display convention as loaded). The
        viewer's flips and rotations never change either.
    """
    from engine.analysis import boxes_by_annotator, map_index
    from engine.localise.describe import basis_note, describe_regions, frame_of

    frame = frame_of(image)
    # The mask from the class's MapIndex: threshold_mask's pixels without a selection over the image.
    regions = describe_regions(loc.boxes, map_index(result, loc.class_name).mask(loc.threshold), frame,
                               class_name=loc.class_name,
                               ground_truth=boxes_by_annotator(ground_truth, loc.class_name, "ground_truth"))
    return [r.text for r in regions], basis_note(frame) if regions else ""


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}"


def score_rows(loc: ClassLocalisation, positive: bool | None = None) -> list[ScoreRow]:
    """The IoU table for one class: every annotator, mean/best/fused, the user, pointing games.

    Args:
        loc: The class's localisation.
        positive: The model's call on the class, shown first because the research protocol scores
            only correctly predicted classes (None: not shown).
    """
    rows = []
    if positive is not None:
        rows.append(ScoreRow("call", "Model's call on this class", float(positive),
                             "positive" if positive else "negative"))
    rows.append(ScoreRow("boxes", f"Boxes cut at {loc.threshold}", float(len(loc.boxes)), str(len(loc.boxes))))
    if loc.gt is None:
        rows.append(ScoreRow("gt:none", "Ground truth", None, "no box of this class"))
    else:
        for annotator, v in sorted(loc.gt.per_annotator.items()):
            rows.append(ScoreRow(f"gt:{annotator}", f"IoU vs {annotator}", v, _fmt(v)))
        rows += [
            ScoreRow("gt:mean", "IoU mean (all annotators' boxes)", loc.gt.mean, _fmt(loc.gt.mean)),
            ScoreRow("gt:best", "IoU best match", loc.gt.best, _fmt(loc.gt.best)),
            ScoreRow("gt:fused", "IoU vs fused consensus (WBF)", loc.gt.fused, _fmt(loc.gt.fused)),
        ]
    if loc.user is None:
        rows.append(ScoreRow("user:mean", "IoU vs your boxes", None, "no box of this class"))
    else:
        rows += [
            ScoreRow("user:mean", "IoU vs your boxes (mean)", loc.user.mean, _fmt(loc.user.mean)),
            ScoreRow("user:best", "IoU vs your boxes (best)", loc.user.best, _fmt(loc.user.best)),
        ]
    if loc.pointing_hit is not None:
        rows.append(ScoreRow("pointing", "Pointing game (max in GT)", float(loc.pointing_hit),
                             "hit" if loc.pointing_hit else "miss"))
    if loc.energy is not None:
        rows.append(ScoreRow("energy", "Energy pointing game", loc.energy, _fmt(loc.energy)))
    if loc.diff is not None:
        rows.append(ScoreRow("diff", "Mean map inside − outside GT", loc.diff, _fmt(loc.diff)))
    return rows
