"""A sentence a radiologist can read for each box cut from a map.

For every box: the side (the PATIENT's right or left, from the image orientation, never the screen's),
the zone (upper/middle/lower along the head-foot axis, central/peripheral along the left-right axis),
the highlighted area in mm² (px² when the spacing is unknown, and said so) and as a share of the image,
the shape (compact or elongated, how many components) and the IoU with the best ground-truth box of
the class. Qt-free, pure functions.

Side convention:
    The image's pixel grid is tied to the patient by DICOM PatientOrientation (the direction of
    increasing column, then of increasing row: a PA chest film is ``("L", "F")``, so the patient's
    right is on the image's left), else by ImageOrientationPatient (row and column direction cosines
    in LPS: +x is the patient's left, +y posterior, +z head). ImageLaterality ``L``/``R`` names the
    side of a one-sided image (a breast, a hand) whatever the position in it. The viewer's flips and
    rotations move the picture on screen, not the patient: a box on the patient's right stays there,
    so the view never enters the words.
    Without orientation (a PNG/JPEG, a DICOM without those tags) the image is assumed to be stored in
    the radiographic display convention, as a radiologist reads a chest film: the patient's right on
    the image's left, the head at the top (as if PatientOrientation were ``("L", "F")``). The side
    and zone are then the patient's *under that assumption*: ``side_frame`` is ``assumed`` and the
    sentence says so. A one-sided image without orientation takes its side from ImageLaterality
    (read, not assumed) and its zone from the assumption.

Zones: thirds of the image along the head-foot axis (upper = towards the head). Central when the box
centre lies in the inner third of the half-width on its side of the midline, peripheral otherwise; a
box with at least a quarter of its width on each side of the midline is "across the midline".
Shape: elongated when the ratio of the principal axes of the highlighted pixels (in mm) is at least 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.localise.boxes import BoxesLike, as_boxes
from engine.localise.iou import iou_matrix
from engine.localise.runs import components
from engine.localise.threshold import Threshold, threshold_mask

_LETTERS = {"L": (0, 1), "R": (0, -1), "P": (1, 1), "A": (1, -1), "H": (2, 1), "F": (2, -1)}
#: The orientation assumed when the file has none: the radiographic display convention (PA chest film).
ASSUMED_ORIENTATION = ("L", "F")
ASSUMED_NOTE = ("side assumed: the file has no orientation, so the image is read as a radiograph displayed "
                "as loaded (patient's right on the image's left, head at the top); flipping or rotating the "
                "view does not change these words")
ELONGATED_RATIO = 2.0


@dataclass(frozen=True)
class PatientFrame:
    """How the pixel grid lies in the patient.

    Attributes:
        x_direction: Patient direction of increasing column (``L R A P H F``), "" when unknown.
        y_direction: Patient direction of increasing row, "" when unknown.
        laterality: ImageLaterality ``L``/``R`` of a one-sided image, "" otherwise.
        spacing: ``(row, column)`` mm, or None.
        source: Where the orientation came from (``PatientOrientation``, ``ImageOrientationPatient``, ``unknown``).
    """

    x_direction: str = ""
    y_direction: str = ""
    laterality: str = ""
    spacing: tuple[float, float] | None = None
    source: str = "unknown"

    @property
    def known(self) -> bool:
        """Whether the file gave the orientation (PatientOrientation or ImageOrientationPatient)."""
        return bool(self.x_direction and self.y_direction) and self.source != "assumed"

    def effective(self) -> PatientFrame:
        """This frame, or without orientation the assumed one (:data:`ASSUMED_ORIENTATION`, source ``assumed``)."""
        if self.x_direction and self.y_direction:
            return self
        return PatientFrame(*ASSUMED_ORIENTATION, self.laterality, self.spacing, "assumed")


def _letter(text: str) -> str:
    text = (text or "").strip().upper()
    return text[0] if text and text[0] in _LETTERS else ""


def _cosine_letter(v: npt.NDArray[np.float64]) -> str:
    i = int(np.argmax(np.abs(v)))
    return ("L", "P", "H")[i] if v[i] > 0 else ("R", "A", "F")[i]


def patient_frame(patient_orientation: Sequence[str] = (), image_orientation: Sequence[float] = (),
                  laterality: str = "", spacing: tuple[float, float] | None = None) -> PatientFrame:
    """The frame from DICOM PatientOrientation (preferred), else ImageOrientationPatient.

    The first letter of each PatientOrientation value is its main direction (PS3.3 C.7.6.1.1.1).
    A pair naming the same axis twice is ignored.
    """
    lat = laterality.strip().upper()[:1] if laterality else ""
    lat = lat if lat in ("L", "R") else ""
    if len(patient_orientation) == 2:
        x, y = _letter(patient_orientation[0]), _letter(patient_orientation[1])
        if x and y and _LETTERS[x][0] != _LETTERS[y][0]:
            return PatientFrame(x, y, lat, spacing, "PatientOrientation")
    if len(image_orientation) == 6 and np.all(np.isfinite(image_orientation)):
        row, col = np.asarray(image_orientation[:3], float), np.asarray(image_orientation[3:], float)
        if np.linalg.norm(row) > 0 and np.linalg.norm(col) > 0:
            x, y = _cosine_letter(row), _cosine_letter(col)
            if _LETTERS[x][0] != _LETTERS[y][0]:
                return PatientFrame(x, y, lat, spacing, "ImageOrientationPatient")
    return PatientFrame("", "", lat, spacing, "unknown")


def basis_note(frame: PatientFrame) -> str:
    """One line saying where the words' patient side comes from (read from the file, or assumed)."""
    if frame.known:
        letters = f" {frame.x_direction}\\{frame.y_direction}"
        lat = f", ImageLaterality {frame.laterality}" if frame.laterality else ""
        return f"Patient's side from {frame.source}{letters}{lat}; flipping or rotating the view does not change it."
    if frame.laterality:
        return (f"Side from ImageLaterality {frame.laterality}; zone assumed (no orientation in the file: head at "
                "the top of the image as loaded). Flipping or rotating the view does not change the words.")
    return ASSUMED_NOTE[0].upper() + ASSUMED_NOTE[1:] + "."


def frame_of(image: Any) -> PatientFrame:
    """The :class:`PatientFrame` of a ``StudyImage`` (its header fields and spacing)."""
    meta = getattr(image, "metadata", None)
    return patient_frame(tuple(getattr(meta, "patient_orientation", ()) or ()),
                         tuple(getattr(meta, "image_orientation", ()) or ()),
                         str(getattr(meta, "laterality", "") or ""), getattr(image, "spacing", None))


@dataclass(frozen=True)
class RegionDescription:
    """One box in words and numbers (see the module docstring for the conventions).

    Attributes:
        index: 1-based number of the box.
        box: ``(x0, y0, x1, y1)`` pixel edges.
        side: ``right``, ``left``, ``across the midline``, or "" when the projection shows no left/right.
        side_frame: ``patient`` (read from the file's orientation or laterality) or ``assumed`` (no
            orientation in the file: the radiographic display convention, :data:`ASSUMED_ORIENTATION`).
        vertical: ``upper``, ``middle`` or ``lower`` (``anterior``/``middle``/``posterior`` for an axial image).
        horizontal: ``central``, ``peripheral`` or "".
        area: Highlighted area inside the box in ``area_unit``.
        area_unit: ``mm²`` or ``px²`` (spacing unknown).
        share: Highlighted area / image area.
        extent: Box width and height in ``mm`` or ``px`` (``extent_unit``).
        extent_unit: ``mm`` or ``px``.
        elongation: Ratio of the principal axes of the highlighted pixels (1 = round/square).
        components: Connected components of the highlighted pixels in the box.
        iou_gt: IoU with the best ground-truth box of the class, None without ground truth.
        text: The sentence.
    """

    index: int
    box: tuple[float, float, float, float]
    side: str
    side_frame: str
    vertical: str
    horizontal: str
    area: float
    area_unit: str
    share: float
    extent: tuple[float, float]
    extent_unit: str
    elongation: float
    components: int
    iou_gt: float | None
    text: str

    @property
    def shape(self) -> str:
        return "elongated" if self.elongation >= ELONGATED_RATIO else "compact"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "box": [round(v, 3) for v in self.box], "side": self.side,
            "side_frame": self.side_frame, "zone": {"vertical": self.vertical, "horizontal": self.horizontal},
            "area": round(self.area, 2), "area_unit": self.area_unit, "share_of_image": round(self.share, 5),
            "extent": [round(v, 2) for v in self.extent], "extent_unit": self.extent_unit,
            "shape": self.shape, "elongation": round(self.elongation, 3), "components": self.components,
            "iou_best_ground_truth": None if self.iou_gt is None else round(self.iou_gt, 4), "text": self.text,
        }


def _elongation(mask: npt.NDArray[np.bool_], sy: float, sx: float) -> float:
    rows, cols = np.nonzero(mask)
    if rows.size < 2:
        return 1.0
    pts = np.stack([(cols - cols.mean()) * sx, (rows - rows.mean()) * sy])
    cov = np.cov(pts) + np.eye(2) * (sx * sy / 12.0)  # a pixel's own extent: a line of pixels is not infinitely thin
    lo, hi = np.linalg.eigvalsh(cov)
    return float(math.sqrt(hi / lo)) if lo > 0 else float("inf")


def _position(frame: PatientFrame, box: npt.NDArray[np.float64], shape: tuple[int, int]) -> tuple[str, str, str, str]:
    """(side, side_frame, vertical, horizontal) of a box, from image coordinates and the (assumed) frame."""
    h, w = shape
    x0, y0, x1, y1 = (box[0] / w, box[1] / h, box[2] / w, box[3] / h)
    eff = frame.effective()
    # fraction along each patient axis: axis 0 towards the patient's left, axis 2 towards the head
    spans: dict[int, tuple[float, float]] = {}
    for letter, (lo, hi) in ((eff.x_direction, (x0, x1)), (eff.y_direction, (y0, y1))):
        axis, sign = _LETTERS[letter]
        spans[axis] = (lo, hi) if sign > 0 else (1 - hi, 1 - lo)
    if 0 in spans:
        side, horiz = _side(*spans[0], "right", "left")
    else:
        side, horiz = "", ""
    side_frame = "patient" if eff.source != "assumed" else "assumed"
    if frame.laterality:  # a one-sided image: its side is the body side, not a half of the picture
        side, horiz, side_frame = {"L": "left", "R": "right"}[frame.laterality], "", "patient"
    if 2 in spans:  # towards the head = upper
        vertical = _third(1 - sum(spans[2]) / 2)
    else:  # an axial image: anterior / middle / posterior
        vertical = ("anterior", "middle", "posterior")[("upper", "middle", "lower").index(_third(sum(spans[1]) / 2))]
    return side, side_frame, vertical, horiz


def _side(lo: float, hi: float, low_name: str, high_name: str) -> tuple[str, str]:
    """Side of a span ``[lo, hi]`` (fractions along an axis) around 0.5, and central/peripheral."""
    width = max(hi - lo, 1e-9)
    below = max(0.0, min(hi, 0.5) - lo) / width
    if min(below, 1 - below) >= 0.25:
        return "across the midline", "central"
    centre = (lo + hi) / 2
    side = low_name if centre < 0.5 else high_name
    return side, "central" if abs(centre - 0.5) < 0.5 / 3 else "peripheral"


def _third(t: float) -> str:
    return "upper" if t < 1 / 3 else "middle" if t < 2 / 3 else "lower"


def describe_regions(
    boxes: BoxesLike, mask: npt.ArrayLike, frame: PatientFrame, *, class_name: str = "",
    ground_truth: Mapping[str, BoxesLike] | BoxesLike | None = None,
) -> list[RegionDescription]:
    """Describe each box cut from a map (the viewer's flips and rotations never enter: see the module docstring).

    Args:
        boxes: ``(N, 4)`` boxes in image pixel edges (as cut by :func:`engine.localise.map_to_boxes`).
        mask: The thresholded map (``H x W``, image pixels) the boxes were cut from.
        frame: How the grid lies in the patient (:func:`frame_of`, :func:`patient_frame`).
        class_name: Named in the sentence.
        ground_truth: Ground-truth boxes of the class (annotator -> boxes, or boxes); IoU with the best one.

    Returns:
        One :class:`RegionDescription` per box, in the order given.
    """
    m = np.asarray(mask)
    shape = (int(m.shape[0]), int(m.shape[1]))
    arr = as_boxes(boxes)
    gt = _gt_array(ground_truth)
    ious = iou_matrix(arr, gt) if len(gt) and len(arr) else np.zeros((len(arr), 0))
    sy, sx = frame.spacing if frame.spacing else (1.0, 1.0)
    unit = "mm" if frame.spacing else "px"
    out = []
    for i, box in enumerate(arr):
        # The box's pixels are a rectangle (boxes_to_mask's rule: pixel centres inside, half-open):
        # work on that crop, not on a mask of the whole image (issue #19: 3000 x 3000 images).
        x0, y0, x1, y1 = np.ceil(box - 0.5).tolist()
        c0, c1 = int(min(max(x0, 0), shape[1])), int(min(max(x1, 0), shape[1]))
        r0, r1 = int(min(max(y0, 0), shape[0])), int(min(max(y1, 0), shape[0]))
        inside = m[r0:max(r0, r1), c0:max(c0, c1)] != 0
        n_pix = int(inside.sum())
        n_comp = components(inside, 2).n
        side, side_frame, vertical, horizontal = _position(frame, box, shape)
        iou = float(ious[i].max()) if ious.shape[1] else None
        desc = RegionDescription(
            index=i + 1, box=tuple(float(v) for v in box), side=side, side_frame=side_frame,  # type: ignore[arg-type]
            vertical=vertical, horizontal=horizontal, area=n_pix * sy * sx, area_unit=f"{unit}²",
            share=n_pix / float(shape[0] * shape[1]), extent=(float(box[2] - box[0]) * sx, float(box[3] - box[1]) * sy),
            extent_unit=unit, elongation=_elongation(inside, sy, sx), components=int(n_comp), iou_gt=iou, text="",
        )
        out.append(_with_text(desc, frame, class_name))
    return out


def _gt_array(gt: Mapping[str, BoxesLike] | BoxesLike | None) -> npt.NDArray[np.float64]:
    if gt is None:
        return np.zeros((0, 4))
    if isinstance(gt, Mapping):
        parts = [as_boxes(v) for v in gt.values()]
        return np.concatenate(parts) if parts else np.zeros((0, 4))
    return as_boxes(gt)


def _with_text(d: RegionDescription, frame: PatientFrame, class_name: str) -> RegionDescription:
    import dataclasses

    if d.side == "across the midline":
        where = "across the midline"
    elif d.side:
        where = f"patient's {d.side}"
    else:
        where = "no left/right in this projection"
    zone = f"{d.vertical} zone"
    zone += f", {d.horizontal}" if d.horizontal and d.side != "across the midline" else ""
    if frame.known:
        basis = ("ImageLaterality " + frame.laterality) if frame.laterality else frame.source
        place = f"{where}, {zone} (from {basis})"
    elif frame.laterality:
        place = (f"{where}, {zone} (side from ImageLaterality {frame.laterality}; zone assumed: no orientation "
                 "in the file, head taken at the top of the image as loaded)")
    else:
        place = (f"{where}, {zone} (assumed: no orientation in the file; patient's right taken as the "
                 "image's left as loaded)")
    if d.area_unit == "mm²":
        size = f"{d.area:,.0f} mm² highlighted"
    else:
        size = f"{d.area:,.0f} px² highlighted (pixel spacing unknown)"
    ext = f"box {d.extent[0]:.0f} × {d.extent[1]:.0f} {d.extent_unit}"
    comps = f"{d.components} component{'s' if d.components != 1 else ''}"
    text = (f"Region {d.index}{f' ({class_name})' if class_name else ''}: {place}; {size}, "
            f"{_pct(d.share)} of the image, {ext}; {d.shape}, {comps}")
    text += "." if d.iou_gt is None else f"; IoU {d.iou_gt:.2f} with the best ground-truth box."
    return dataclasses.replace(d, text=text)


def _pct(share: float) -> str:
    pct = 100 * share
    return f"{pct:.1f} %" if pct >= 0.1 else "< 0.1 %"


def describe_map(
    heatmap: npt.ArrayLike, threshold: Threshold | str, boxes: BoxesLike, frame: PatientFrame, *,
    class_name: str = "", ground_truth: Mapping[str, BoxesLike] | BoxesLike | None = None,
) -> list[RegionDescription]:
    """:func:`describe_regions` of boxes cut from ``heatmap`` at ``threshold`` (the mask is cut again here)."""
    return describe_regions(boxes, threshold_mask(heatmap, threshold), frame, class_name=class_name,
                            ground_truth=ground_truth)
