"""Per-class localisation table over a dataset: mean IoU by top-fraction threshold.

The research tables (e.g. VinBigData, ResNet-50, Grad-CAM) report, for one class, the mean IoU
over test images at each top fraction of :data:`RESEARCH_TOP_FRACTIONS`. For each image and
fraction the map is cut with ``Threshold("top_fraction", f)``, boxed with
:func:`map_to_boxes`, and scored with :func:`score_boxes` under one policy. Images where the
class has no GT box, and images the caller excludes (the research keeps correctly predicted
images only), are skipped. The mean is over the images scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.boxes import BoxesLike
from engine.localise.components import BoxMode, map_to_boxes
from engine.localise.scoring import Policy, score_boxes
from engine.localise.threshold import RESEARCH_TOP_FRACTIONS, Threshold


@dataclass(frozen=True)
class LocalisationTable:
    """Mean IoU of one class by top-fraction threshold.

    Attributes:
        fractions: The top fractions, in the order of the columns.
        mean_iou: Mean IoU at each fraction over the scored images (NaN if none was scored).
        per_image: ``(n_scored, n_fractions)`` IoU of each scored image at each fraction.
        image_indices: Index (in the input sequences) of each scored image, one per row.
        policy: Scoring policy used.
        mode: Box mode used.
    """

    fractions: tuple[float, ...]
    mean_iou: tuple[float, ...]
    per_image: npt.NDArray[np.float64]
    image_indices: tuple[int, ...]
    policy: Policy
    mode: BoxMode

    @property
    def n_images(self) -> int:
        """Number of images scored."""
        return len(self.image_indices)

    def as_dict(self) -> dict[str, float]:
        """``{"top:0.01": mean IoU, ...}``, handy for CSV/JSON rows."""
        return {str(Threshold("top_fraction", f)): v for f, v in zip(self.fractions, self.mean_iou, strict=True)}


def localisation_table(
    maps: Sequence[npt.ArrayLike],
    gt_boxes: Sequence[Mapping[str, BoxesLike]],
    fractions: Sequence[float] = RESEARCH_TOP_FRACTIONS,
    *,
    include: Sequence[bool] | None = None,
    policy: Policy = "mean",
    mode: BoxMode = "all",
    min_area: int = 0,
) -> LocalisationTable:
    """Mean IoU of one class by top-fraction threshold over a set of images.

    Args:
        maps: One 2-D heatmap of the class per image.
        gt_boxes: Per image, annotator -> that annotator's GT boxes of the class (same grid as
            the map).
        fractions: Top fractions to evaluate; default the research grid.
        include: Optional per-image flags, e.g. "the class was correctly predicted"; images
            flagged False are skipped.
        policy: Scoring policy, see :func:`score_boxes`.
        mode: Box mode, see :func:`mask_to_boxes`.
        min_area: Minimum component size in pixels, see :func:`mask_to_boxes`.

    Returns:
        A frozen :class:`LocalisationTable`.

    Raises:
        ShapeError: If ``maps``, ``gt_boxes`` and ``include`` differ in length.
    """
    n = len(maps)
    if len(gt_boxes) != n:
        raise ShapeError("gt_boxes", (len(gt_boxes),), f"one entry per map, ({n},)")
    if include is not None and len(include) != n:
        raise ShapeError("include", (len(include),), f"one flag per map, ({n},)")
    fracs = tuple(float(f) for f in fractions)
    specs = [Threshold("top_fraction", f) for f in fracs]
    rows: list[list[float]] = []
    indices: list[int] = []
    for i, (heatmap, gt) in enumerate(zip(maps, gt_boxes, strict=True)):
        if include is not None and not include[i]:
            continue
        row = []
        for spec in specs:
            pred = map_to_boxes(heatmap, spec, mode=mode, min_area=min_area)
            row.append(score_boxes(pred, gt, policy=policy).score)
        if np.isnan(row).all():  # class absent from this image's GT
            continue
        rows.append(row)
        indices.append(i)
    per_image = np.array(rows, dtype=np.float64).reshape(len(rows), len(fracs))
    means = tuple(float(v) for v in per_image.mean(axis=0)) if rows else tuple(float("nan") for _ in fracs)
    return LocalisationTable(
        fractions=fracs,
        mean_iou=means,
        per_image=per_image,
        image_indices=tuple(indices),
        policy=policy,
        mode=mode,
    )
