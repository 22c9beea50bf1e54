"""Simulated radiologists: each boxes the same finding a little differently."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.phantom.config import ANNOTATOR_IDS, PhantomConfig
from training.phantom.geometry import Box, box_iou

#: Annotator boxes always keep at least this IoU with the true box.
MIN_IOU = 0.55


@dataclass(frozen=True)
class AnnotatorBox:
    """One box drawn by one simulated annotator.

    Attributes:
        annotator: Annotator id, "R1" ... "R17".
        class_name: The class the annotator gave the box.
        box: ``(x_min, y_min, x_max, y_max)`` in pixel-edge coordinates (see BOX_CONVENTION).
        finding_index: Index of the true finding this box was drawn for.
    """

    annotator: str
    class_name: str
    box: Box
    finding_index: int


def choose_readers(rng: np.random.Generator, config: PhantomConfig) -> tuple[str, ...]:
    """Pick the annotators who read this image (sorted by their number)."""
    lo, hi = config.n_annotators
    k = int(rng.integers(lo, hi + 1))
    idx = np.sort(rng.choice(len(ANNOTATOR_IDS), size=k, replace=False))
    return tuple(ANNOTATOR_IDS[int(i)] for i in idx)


def annotator_style(annotator: str) -> float:
    """A fixed per-annotator margin habit: > 0 draws loose boxes, < 0 tight ones (fraction)."""
    n = int(annotator[1:])
    return ((n * 37) % 11 - 5) / 5.0 * 0.03


def draw_box(
    rng: np.random.Generator, truth: Box, annotator: str, size: int, config: PhantomConfig
) -> Box:
    """One annotator's version of ``truth``: jittered edges, their margin habit, sometimes a
    markedly looser or tighter box; always inside the image and with IoU >= :data:`MIN_IOU`."""
    x0, y0, x1, y1 = truth
    w, h = x1 - x0, y1 - y0
    habit = annotator_style(annotator)
    box = truth
    for attempt in range(8):
        jitter = config.annotator_jitter * (0.5**attempt)
        grow = habit
        if rng.random() < config.annotator_loose_p:
            grow += rng.uniform(0.08, 0.15) if rng.random() < 0.6 else -rng.uniform(0.05, 0.1)
        e = rng.normal(0.0, jitter, 4)
        cand = (
            x0 - w * (grow + e[0]),
            y0 - h * (grow + e[1]),
            x1 + w * (grow + e[2]),
            y1 + h * (grow + e[3]),
        )
        cand = (
            round(min(max(cand[0], 0.0), size - 1.0), 1),
            round(min(max(cand[1], 0.0), size - 1.0), 1),
            round(min(max(cand[2], 1.0), float(size)), 1),
            round(min(max(cand[3], 1.0), float(size)), 1),
        )
        if cand[2] > cand[0] and cand[3] > cand[1] and box_iou(cand, truth) >= MIN_IOU:
            box = cand
            break
    return box
