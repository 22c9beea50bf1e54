"""VinBigData train.csv: reading, error reporting and the CSV writer's round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.annotations import (
    NO_FINDING,
    VINBIGDATA_CLASS_IDS,
    AnnotationSet,
    BoxAnnotation,
    ImageLabel,
    Source,
    read_annotations,
    read_vinbigdata,
    write_vinbigdata_csv,
)
from engine.errors import AnnotationError, AnnotationParseError

# Shaped like the real file: real header, float coordinates, "No finding" rows with empty
# coordinates, three radiologists per image.
TRAIN_CSV = """\
image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
50a418190bc3fb1ef1633bf9678929b3,No finding,14,R11,,,,
21a10246a5ec7af151081d0cd6d65dc9,No finding,14,R7,,,,
9a5094b2563a1ef3ff50dc5c7ff71345,Cardiomegaly,3,R10,691.0,1375.0,1653.0,1831.0
051132a778e61a86eb147c7c6f564dfe,Aortic enlargement,0,R10,1264.0,743.0,1611.0,1019.0
50a418190bc3fb1ef1633bf9678929b3,No finding,14,R15,,,,
9a5094b2563a1ef3ff50dc5c7ff71345,Pleural thickening,11,R9,1789,1729,1875,1992
21a10246a5ec7af151081d0cd6d65dc9,No finding,14,R9,,,,
9a5094b2563a1ef3ff50dc5c7ff71345,Cardiomegaly,3,R8,692.5,1370.0,1660.0,1826.0
50a418190bc3fb1ef1633bf9678929b3,No finding,14,R16,,,,
21a10246a5ec7af151081d0cd6d65dc9,No finding,14,R10,,,,
"""


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text(TRAIN_CSV, encoding="utf-8")
    return path


def test_reads_boxes_and_no_finding_labels(train_csv: Path) -> None:
    sets = read_vinbigdata(train_csv)
    assert list(sets) == [
        "50a418190bc3fb1ef1633bf9678929b3",
        "21a10246a5ec7af151081d0cd6d65dc9",
        "9a5094b2563a1ef3ff50dc5c7ff71345",
        "051132a778e61a86eb147c7c6f564dfe",
    ]
    normal = sets["50a418190bc3fb1ef1633bf9678929b3"]
    assert normal.boxes == ()
    assert [(lab.class_name, lab.annotator) for lab in normal.labels] == [
        (NO_FINDING, "R11"),
        (NO_FINDING, "R15"),
        (NO_FINDING, "R16"),
    ]
    abnormal = sets["9a5094b2563a1ef3ff50dc5c7ff71345"]
    assert abnormal.annotators == ("R10", "R8", "R9")
    cardio = abnormal.by_class()["Cardiomegaly"].boxes
    assert [b.as_tuple() for b in cardio] == [
        (691.0, 1375.0, 1653.0, 1831.0),
        (692.5, 1370.0, 1660.0, 1826.0),
    ]
    assert cardio[0].annotator == "R10" and cardio[0].source is Source.GROUND_TRUTH
    assert cardio[0].image_id == "9a5094b2563a1ef3ff50dc5c7ff71345"
    assert abnormal.labels == ()


def test_ids_are_stable_across_reads(train_csv: Path) -> None:
    first = [b.id for s in read_vinbigdata(train_csv).values() for b in s.boxes]
    second = [b.id for s in read_vinbigdata(train_csv).values() for b in s.boxes]
    assert first == second and len(set(first)) == len(first)


def test_auto_detected(train_csv: Path) -> None:
    assert read_annotations(train_csv).keys() == read_vinbigdata(train_csv).keys()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("abc,Nodule/Mass,8,R1,10.0,20.0,oops,40.0", "x_max"),
        ("abc,Nodule/Mass,8,R1,10.0,,30.0,40.0", "y_min"),
        ("abc,Nodule/Mass,eight,R1,10.0,20.0,30.0,40.0", "class_id"),
        ("abc,Nodule/Mass,8,R1,50.0,20.0,30.0,40.0", "x_max"),
        (",Nodule/Mass,8,R1,10.0,20.0,30.0,40.0", "image_id"),
    ],
)
def test_bad_row_names_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(TRAIN_CSV + row + "\n", encoding="utf-8")
    with pytest.raises(AnnotationParseError) as info:
        read_annotations(path)
    message = str(info.value)
    assert "line 12" in message and repr(field) in message and "train.csv" in message


def test_round_trip_with_competition_ids(train_csv: Path, tmp_path: Path) -> None:
    sets = read_vinbigdata(train_csv)
    out = write_vinbigdata_csv(tmp_path / "out.csv", sets, VINBIGDATA_CLASS_IDS)
    text = out.read_text(encoding="utf-8")
    assert "50a418190bc3fb1ef1633bf9678929b3,No finding,14,R11,,,," in text
    assert "9a5094b2563a1ef3ff50dc5c7ff71345,Cardiomegaly,3,R10,691.0,1375.0,1653.0,1831.0" in text
    again = read_vinbigdata(out)
    assert again.keys() == sets.keys()
    for image_id, original in sets.items():
        assert sorted(b.key() for b in again[image_id].boxes) == sorted(
            b.key() for b in original.boxes
        )
        assert sorted(again[image_id].labels, key=repr) == sorted(original.labels, key=repr)


def test_write_default_class_ids_and_missing_class(tmp_path: Path) -> None:
    box = BoxAnnotation("Zebra", 0.25, 1, 2, 3, annotator="me", source=Source.USER, image_id="i")
    sets = {"i": AnnotationSet((box,), (ImageLabel(NO_FINDING, "R1"),))}
    out = write_vinbigdata_csv(tmp_path / "o.csv", sets)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "i,No finding,0,R1,,,,"
    assert lines[2] == "i,Zebra,1,me,0.25,1.0,2.0,3.0"
    with pytest.raises(AnnotationError, match="Zebra"):
        write_vinbigdata_csv(tmp_path / "o.csv", sets, VINBIGDATA_CLASS_IDS)
    assert out.read_text(encoding="utf-8").splitlines() == lines  # untouched
