"""Tests of the annotation model: boxes, sets, and matching ids to images."""

from __future__ import annotations

import dataclasses

import pytest

from engine.annotations import (
    NO_FINDING,
    AnnotationSet,
    BoxAnnotation,
    ImageAnnotations,
    ImageLabel,
    Source,
    image_key,
    match_to_images,
)
from engine.errors import AnnotationError


def _box(cls: str = "Nodule/Mass", annotator: str = "R1", source: str = "user") -> BoxAnnotation:
    return BoxAnnotation(cls, 10, 20, 30, 60, annotator=annotator, source=Source(source))


def test_box_geometry_and_copies() -> None:
    box = _box()
    assert box.as_tuple() == (10.0, 20.0, 30.0, 60.0)
    assert (box.width, box.height, box.area) == (20.0, 40.0, 800.0)
    moved = box.moved(5, -5)
    assert moved.as_tuple() == (15.0, 15.0, 35.0, 55.0)
    assert moved.id == box.id
    assert box.with_coords(x1=12).as_tuple() == (10.0, 20.0, 12.0, 60.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.x0 = 3  # type: ignore[misc]


def test_box_defaults_and_coercion() -> None:
    a = BoxAnnotation("A", 1, 2, 3, 4, annotator="me", source="model", score=0.5)  # type: ignore[arg-type]
    b = BoxAnnotation("A", 1, 2, 3, 4, annotator="me", source=Source.MODEL, score=0.5)
    assert a.source is Source.MODEL
    assert isinstance(a.x0, float)
    assert len(a.id) == 32 and a.id != b.id
    assert a.key() == b.key()


@pytest.mark.parametrize(
    "coords", [(5, 0, 4, 1), (0, 5, 1, 4), (0, 0, float("nan"), 1), (0, 0, float("inf"), 1)]
)
def test_box_rejects_negative_size_and_non_finite(
    coords: tuple[float, float, float, float],
) -> None:
    x0, y0, x1, y1 = coords
    with pytest.raises(AnnotationError):
        BoxAnnotation("A", x0, y0, x1, y1, annotator="x", source=Source.USER)


def test_box_allows_degenerate_and_rejects_bad_fields() -> None:
    assert BoxAnnotation("A", 3, 3, 3, 3, annotator="x", source=Source.USER).area == 0
    with pytest.raises(AnnotationError):
        BoxAnnotation("", 0, 0, 1, 1, annotator="x", source=Source.USER)
    with pytest.raises(AnnotationError, match="ground_truth"):
        BoxAnnotation("A", 0, 0, 1, 1, annotator="x", source="robot")  # type: ignore[arg-type]
    with pytest.raises(AnnotationError):
        _box().moved(float("nan"), 0)


def test_set_helpers() -> None:
    b1, b2, b3 = _box("A", "R1"), _box("B", "R2"), _box("A", "R2", "model")
    s = AnnotationSet((b1, b2, b3), (ImageLabel(NO_FINDING, "R3"),), "img")
    assert s.classes == ("A", "B", NO_FINDING)
    assert s.annotators == ("R1", "R2", "R3")
    assert s.by_class()["A"].boxes == (b1, b3)
    assert s.by_annotator()["R2"].boxes == (b2, b3)
    assert s.by_annotator()["R3"].labels == (ImageLabel(NO_FINDING, "R3"),)
    assert s.filter(source="model").boxes == (b3,)
    assert s.filter(source=Source.USER, class_name="A").boxes == (b1,)
    assert s.filter(source=Source.GROUND_TRUTH).labels == s.labels
    assert len(s) == 3 and list(s) == [b1, b2, b3]


def test_set_edits_return_copies() -> None:
    b1, b2 = _box("A"), _box("B")
    s = AnnotationSet((b1,))
    s2 = s.added(b2)
    assert s.boxes == (b1,) and s2.boxes == (b1, b2)
    assert s2.removed(b1.id).boxes == (b2,)
    assert s2.replaced(b1.moved(1, 1)).get(b1.id).x0 == 11.0
    with pytest.raises(AnnotationError, match="No box"):
        s.removed("nope")
    assert s.with_labels(ImageLabel("X", "me")).labels[0].class_name == "X"


def test_image_annotations_mapping() -> None:
    s = AnnotationSet((_box("A"),), image_id="a")
    ia = ImageAnnotations({"a": s})
    ia2 = ia.merged({"a": AnnotationSet((_box("B"),)), "b": AnnotationSet()})
    assert ia.image_ids == ("a",)
    assert ia2.image_ids == ("a", "b")
    assert ia2.box_count == 2 and ia2.classes == ("A", "B")
    assert ia.with_set("c", s)["c"] is s and "c" not in ia
    assert ia2.to_dict()["b"].is_empty


def test_image_key() -> None:
    assert image_key("/data/00000003_000.png") == "00000003_000"
    assert image_key("abc.DICOM") == "abc"
    assert (
        image_key("1.2.276.0.7230010.3.1.4.8323329.5597") == "1.2.276.0.7230010.3.1.4.8323329.5597"
    )
    assert image_key("img001.dcm") == "img001"


def test_match_reports_every_mismatch() -> None:
    annotations = {
        "abc": AnnotationSet(),  # VinBigData id, no extension
        "00000003_000.png": AnnotationSet(),  # NIH name
        "1.2.3.4": AnnotationSet(),  # SIIM UID
        "missing": AnnotationSet(),
        "twin": AnnotationSet(),
    }
    images = [
        "/d/abc.dicom",
        "/d/00000003_000.png",
        "/d/1.2.3.4.dcm",
        "/d/x.png",
        "t/twin.png",
        "t/twin.dcm",
    ]
    report = match_to_images(annotations, images)
    assert report.matched == {
        "abc": "/d/abc.dicom",
        "00000003_000.png": "/d/00000003_000.png",
        "1.2.3.4": "/d/1.2.3.4.dcm",
    }
    assert report.unmatched_annotations == ("missing",)
    assert report.ambiguous == {"twin": ("t/twin.png", "t/twin.dcm")}
    assert report.images_without_annotations == ("/d/x.png", "t/twin.png", "t/twin.dcm")
    assert not report.complete
    assert "1 annotation ids match no loaded image" in report.summary()


def test_match_exact_wins() -> None:
    report = match_to_images(["a.png"], ["a.png", "a.dcm"])
    assert report.matched == {"a.png": "a.png"} and report.complete
