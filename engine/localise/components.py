"""From a binary mask to boxes: connected components, one box per component."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from engine.localise.errors import InvalidPolicyError
from engine.localise.maps import as_mask
from engine.localise.runs import components
from engine.localise.threshold import Threshold, threshold_mask

BoxMode = Literal["all", "largest", "union"]
_MODES = ("all", "largest", "union")


def mask_to_boxes(
    mask: npt.ArrayLike,
    mode: BoxMode = "all",
    min_area: int = 0,
    connectivity: int = 2,
) -> npt.NDArray[np.float64]:
    """Boxes around the connected components of a mask.

    Components, their bounding boxes and pixel counts come from the mask's row runs in one
    vectorised pass (:func:`engine.localise.runs.components`, equal to ``scipy.ndimage.label`` and
    ``find_objects``; ``regionprops`` takes seconds on noisy 3000 x 3000 maps with 10^5
    components, and importing SciPy's ``ndimage`` costs more than the labelling). A component
    spanning rows ``r0..r1`` and columns ``c0..c1`` gives the box ``(c0, r0, c1 + 1, r1 + 1)``.

    Args:
        mask: 2-D mask; non-zero pixels are foreground.
        mode: ``"all"``: one box per component, ordered by pixel count descending (ties by top
            edge, then left, right and bottom edge); ``"largest"``: only the component with most pixels (ties:
            first in that order); ``"union"``: one box enclosing all kept components.
        min_area: Components with fewer pixels than this are dropped before ``mode`` applies.
        connectivity: 1 (4-neighbourhood) or 2 (8-neighbourhood).

    Returns:
        A float64 ``(N, 4)`` array of ``(x0, y0, x1, y1)``; ``(0, 4)`` if nothing is left.

    Raises:
        ShapeError: If the mask is not 2-D.
        InvalidPolicyError: If ``mode`` or ``connectivity`` is not one accepted.
    """
    if mode not in _MODES:
        raise InvalidPolicyError(f"Unknown box mode {mode!r}.", fix=f"Use one of {_MODES}.")
    if connectivity not in (1, 2):
        raise InvalidPolicyError(f"Connectivity {connectivity!r} is not 1 or 2.")
    m = as_mask(mask)
    found = components(m, connectivity)
    if found.n == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return order_and_select(found.boxes, found.areas, mode, min_area)


def order_and_select(
    boxes: npt.NDArray[np.float64], areas: npt.NDArray[np.int64], mode: BoxMode, min_area: int
) -> npt.NDArray[np.float64]:
    """Drop components under ``min_area``, order by pixel count descending (ties: top, then left
    edge, then right and bottom edge) and apply ``mode`` (see :func:`mask_to_boxes`)."""
    keep = areas >= min_area
    boxes, areas = boxes[keep], areas[keep]
    if boxes.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.float64)
    order = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 0], boxes[:, 1], -areas))
    boxes = boxes[order]
    if mode == "largest":
        return boxes[:1]
    if mode == "union":
        return np.array([[boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]])
    return boxes


def map_to_boxes(
    heatmap: npt.ArrayLike,
    threshold: Threshold | str,
    mode: BoxMode = "all",
    min_area: int = 0,
    connectivity: int = 2,
) -> npt.NDArray[np.float64]:
    """Threshold a heatmap and box its components: ``mask_to_boxes(threshold_mask(...))``.

    Args:
        heatmap: Finite 2-D map.
        threshold: A :class:`Threshold` or its string form (``"top:0.05"``).
        mode: See :func:`mask_to_boxes`.
        min_area: See :func:`mask_to_boxes`.
        connectivity: See :func:`mask_to_boxes`.

    Returns:
        A float64 ``(N, 4)`` array of boxes.
    """
    mask = threshold_mask(heatmap, threshold)
    return mask_to_boxes(mask, mode=mode, min_area=min_area, connectivity=connectivity)
