"""Intersection over union of boxes and masks.

IoU = |A ∩ B| / (|A| + |B| - |A ∩ B|), with the intersection clipped at zero on each axis
(the right edge of the intersection is the *min* of the right edges). An empty union (two
zero-area boxes, two empty masks) gives IoU 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.boxes import BoxesLike, BoxLike, as_box, as_boxes, boxes_to_mask
from engine.localise.maps import as_mask


def iou_matrix(a: BoxesLike, b: BoxesLike) -> npt.NDArray[np.float64]:
    """Pairwise IoU of two sets of boxes.

    Args:
        a: ``N`` boxes (an ``(N, 4)`` array or box-likes).
        b: ``M`` boxes.

    Returns:
        A float64 ``(N, M)`` array; entry ``(i, j)`` is IoU(a[i], b[j]) in ``[0, 1]``.
    """
    aa, bb = as_boxes(a, "a"), as_boxes(b, "b")
    ix0 = np.maximum(aa[:, None, 0], bb[None, :, 0])
    iy0 = np.maximum(aa[:, None, 1], bb[None, :, 1])
    ix1 = np.minimum(aa[:, None, 2], bb[None, :, 2])
    iy1 = np.minimum(aa[:, None, 3], bb[None, :, 3])
    inter = np.clip(ix1 - ix0, 0.0, None) * np.clip(iy1 - iy0, 0.0, None)
    area_a = (aa[:, 2] - aa[:, 0]) * (aa[:, 3] - aa[:, 1])
    area_b = (bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return np.clip(out, 0.0, 1.0)


def iou(a: BoxLike, b: BoxLike) -> float:
    """IoU of two boxes (each a :class:`Box` or four numbers); 0 for an empty union."""
    ba, bb = as_box(a, "a"), as_box(b, "b")
    return float(iou_matrix([ba], [bb])[0, 0])


def mask_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Pixel-count IoU of two same-shaped 2-D masks; 0 when both are empty.

    Raises:
        ShapeError: If the masks are not 2-D or differ in shape.
    """
    ma, mb = as_mask(a, "a"), as_mask(b, "b")
    if ma.shape != mb.shape:
        raise ShapeError("b", mb.shape, f"the shape of a, {ma.shape}")
    inter = int(np.count_nonzero(ma & mb))
    union = int(np.count_nonzero(ma | mb))
    return inter / union if union else 0.0


def union_mask_iou(pred_mask: npt.ArrayLike, gt_boxes: BoxesLike) -> float:
    """IoU of a predicted mask against the union of GT boxes rasterised on the mask's grid.

    The GT boxes are rasterised with :func:`engine.localise.boxes.boxes_to_mask` (pixel centre
    rule). To compare predicted *boxes* at mask level, rasterise them first with the same
    function.

    Args:
        pred_mask: 2-D predicted mask (e.g. from :func:`threshold_mask`).
        gt_boxes: Ground-truth boxes, possibly from several annotators pooled.

    Returns:
        The IoU in ``[0, 1]``; 0 when both are empty.
    """
    pm = as_mask(pred_mask, "pred_mask")
    return mask_iou(pm, boxes_to_mask(gt_boxes, (pm.shape[0], pm.shape[1])))
