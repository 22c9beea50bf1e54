"""Region descriptions: known answers on synthetic maps with known position, spacing and orientation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.io import load_image
from engine.io.synthetic import write_dicom
from engine.localise import mask_to_boxes
from engine.localise.describe import (
    ASSUMED_ORIENTATION,
    PatientFrame,
    RegionDescription,
    basis_note,
    describe_regions,
    frame_of,
    patient_frame,
)

H, W = 500, 400
SPACING = (0.2, 0.2)


def _pa_mask() -> np.ndarray:
    """A 50 x 80 px block in the image's upper left (rows 50-99, columns 40-119)."""
    m = np.zeros((H, W), bool)
    m[50:100, 40:120] = True
    return m


def _one(mask: np.ndarray, frame: PatientFrame, **kw: Any) -> RegionDescription:
    regions = describe_regions(mask_to_boxes(mask), mask, frame, **kw)
    assert len(regions) == 1
    return regions[0]


def test_pa_film_patient_right_is_image_left_with_mm_and_share() -> None:
    d = _one(_pa_mask(), patient_frame(("L", "F"), spacing=SPACING), class_name="Nodule")
    assert (d.side, d.side_frame, d.vertical, d.horizontal) == ("right", "patient", "upper", "peripheral")
    assert d.area == pytest.approx(50 * 80 * 0.2 * 0.2) and d.area_unit == "mm²"  # 160 mm²
    assert d.share == pytest.approx(4000 / (H * W)) and d.extent == pytest.approx((16.0, 10.0))
    assert d.components == 1 and d.shape == "compact" and d.iou_gt is None
    assert d.text.startswith("Region 1 (Nodule): patient's right, upper zone, peripheral (from PatientOrientation)")
    assert "160 mm² highlighted, 2.0 % of the image, box 16 × 10 mm; compact, 1 component." in d.text


def test_mirrored_orientation_flips_the_side() -> None:
    assert _one(_pa_mask(), patient_frame(("R", "F"), spacing=SPACING)).side == "left"
    # rows towards the head: the top of the image is the patient's feet
    d = _one(_pa_mask(), patient_frame(("L", "H"), spacing=SPACING))
    assert (d.side, d.vertical) == ("right", "lower")


def test_rotated_image_gives_the_same_anatomy() -> None:
    """The PA film rotated 90° clockwise: columns now run towards the head, rows towards the patient's left."""
    upright = _one(_pa_mask(), patient_frame(("L", "F"), spacing=SPACING))
    rotated_mask = np.rot90(_pa_mask(), k=-1)
    rotated = _one(rotated_mask, patient_frame(("H", "L"), spacing=SPACING))
    assert (rotated.side, rotated.vertical, rotated.horizontal) == ("right", "upper", "peripheral")
    assert rotated.area == pytest.approx(upright.area) and rotated.extent == pytest.approx(upright.extent[::-1])


def test_image_orientation_patient_is_used_when_patient_orientation_is_absent() -> None:
    coronal = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # rows towards the patient's left, columns towards the feet
    assert _one(_pa_mask(), patient_frame((), coronal)).side == "right"
    mirrored = (-1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    assert _one(_pa_mask(), patient_frame((), mirrored)).side == "left"
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # columns towards posterior: no head-foot axis
    d = _one(_pa_mask(), patient_frame((), axial))
    assert (d.side, d.vertical, d.side_frame) == ("right", "anterior", "patient")
    lateral = _one(_pa_mask(), patient_frame(("A", "F")))  # a lateral view shows no left/right
    assert lateral.side == "" and "no left/right in this projection" in lateral.text


def test_without_orientation_the_radiographic_convention_is_assumed_and_said() -> None:
    """No orientation: read as a PA film as loaded (image left = patient's right), labelled 'assumed'."""
    d = _one(_pa_mask(), patient_frame())
    assert ASSUMED_ORIENTATION == ("L", "F")
    assert (d.side, d.side_frame, d.vertical, d.horizontal) == ("right", "assumed", "upper", "peripheral")
    assert d.area_unit == "px²" and d.area == 4000
    assert d.text.startswith("Region 1: patient's right, upper zone, peripheral (assumed: no orientation in the file; "
                             "patient's right taken as the image's left as loaded)")
    assert "4,000 px² highlighted (pixel spacing unknown)" in d.text and d.to_dict()["side_frame"] == "assumed"
    # the same place as a file that states the convention, but not labelled as read from the file
    read = _one(_pa_mask(), patient_frame(("L", "F")))
    assert (read.side, read.vertical, read.horizontal, read.side_frame) == ("right", "upper", "peripheral", "patient")
    # known answers all round the image: right half = patient's left, bottom = lower
    cases = (((400, 450), (300, 380), "left", "lower"), ((200, 260), (20, 60), "right", "middle"),
             ((10, 40), (150, 250), "across the midline", "upper"))
    for rows, cols, side, vertical in cases:
        m = np.zeros((H, W), bool)
        m[rows[0]:rows[1], cols[0]:cols[1]] = True
        d = _one(m, patient_frame())
        assert (d.side, d.vertical, d.side_frame) == (side, vertical, "assumed")
    assert basis_note(patient_frame()).startswith("Side assumed: the file has no orientation")
    assert basis_note(patient_frame(("L", "F"))).startswith("Patient's side from PatientOrientation L\\F")


def test_a_flipped_or_rotated_view_does_not_enter_the_words() -> None:
    """The view is not an input: the same pixels give the same words; flipped pixels with the
    matching orientation give the same patient side; flipped pixels WITHOUT orientation are a
    different film under the assumption (its left half now holds what was the right half)."""
    import inspect

    assert "view" not in inspect.signature(describe_regions).parameters
    assumed = _one(_pa_mask(), patient_frame())
    mirrored_pixels = _pa_mask()[:, ::-1]  # the film stored mirrored, with PatientOrientation saying so
    assert _one(mirrored_pixels, patient_frame(("R", "F"))).side == "right"
    assert _one(mirrored_pixels, patient_frame()).side == "left"  # no orientation: the assumption reads it as stored
    upside_down = _pa_mask()[::-1, ::-1]  # stored rotated 180°: PatientOrientation R\H
    d = _one(upside_down, patient_frame(("R", "H")))
    assert (d.side, d.vertical, d.horizontal) == (assumed.side, assumed.vertical, assumed.horizontal)
    turned = np.rot90(_pa_mask(), k=-1)  # stored rotated 90° clockwise: columns run to the head, rows to the left
    d = _one(turned, patient_frame(("H", "L")))
    assert (d.side, d.vertical) == ("right", "upper")


def test_laterality_names_the_side_of_a_one_sided_image() -> None:
    d = _one(_pa_mask(), patient_frame((), (), "R"))
    assert (d.side, d.side_frame, d.horizontal, d.vertical) == ("right", "patient", "", "upper")
    assert "side from ImageLaterality R; zone assumed" in d.text
    d = _one(_pa_mask(), patient_frame(("L", "F"), (), "L"))  # laterality wins over the position
    assert (d.side, d.side_frame) == ("left", "patient") and "(from ImageLaterality L)" in d.text


def test_shape_in_mm_components_and_midline() -> None:
    tall = np.zeros((H, W), bool)
    tall[100:160, 300:310] = True  # 60 rows x 10 columns
    assert _one(tall, patient_frame(("L", "F"), spacing=SPACING)).shape == "elongated"
    # rows 0.1 mm, columns 0.6 mm apart: the same pixels are a 6 x 6 mm square
    square = _one(tall, patient_frame(("L", "F"), spacing=(0.1, 0.6)))
    assert square.shape == "compact" and square.extent == pytest.approx((6.0, 6.0))
    two = np.zeros((H, W), bool)
    two[300:320, 20:40] = True
    two[330:350, 60:80] = True
    union = mask_to_boxes(two, mode="union")
    d = describe_regions(union, two, patient_frame(("L", "F")))[0]
    assert d.components == 2 and "2 components" in d.text and d.vertical == "middle"
    mid = np.zeros((H, W), bool)
    mid[400:450, 150:250] = True
    d = _one(mid, patient_frame(("L", "F"), spacing=SPACING))
    assert (d.side, d.vertical) == ("across the midline", "lower") and "across the midline, lower zone (" in d.text


def test_iou_with_the_best_ground_truth_box() -> None:
    box = mask_to_boxes(_pa_mask())  # (40, 50, 120, 100)
    gt = {"R1": np.array([[40.0, 50.0, 80.0, 100.0]]), "R2": np.array([[300.0, 300.0, 350.0, 350.0]])}
    d = describe_regions(box, _pa_mask(), patient_frame(("L", "F")), ground_truth=gt)[0]
    assert d.iou_gt == pytest.approx((40 * 50) / (80 * 50))  # the half box inside: 0.5
    assert d.text.endswith("IoU 0.50 with the best ground-truth box.")
    assert d.to_dict()["iou_best_ground_truth"] == 0.5


def test_frame_of_a_dicom_file(tmp_path: Path) -> None:
    pixels = np.zeros((H, W), np.uint16)
    path = tmp_path / "pa.dcm"
    write_dicom(path, pixels, Modality="DX", PatientOrientation=["R", "F"], PixelSpacing=[0.2, 0.2],
                ImageLaterality="B")
    frame = frame_of(load_image(path))
    assert (frame.x_direction, frame.y_direction, frame.source) == ("R", "F", "PatientOrientation")
    assert frame.spacing == (0.2, 0.2) and frame.laterality == ""
    assert _one(_pa_mask(), frame).side == "left"
    write_dicom(path, pixels, ImageOrientationPatient=[1, 0, 0, 0, 0, -1])
    frame = frame_of(load_image(path))
    assert (frame.x_direction, frame.y_direction, frame.source) == ("L", "F", "ImageOrientationPatient")
