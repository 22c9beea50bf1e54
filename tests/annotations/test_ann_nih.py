"""NIH ChestX-ray14 BBox_List_2017.csv reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.annotations import read_annotations, read_nih
from engine.errors import AnnotationParseError

# The real header (the bracketed column name hides four columns) and trailing empty columns.
BBOX_CSV = """\
Image Index,Finding Label,Bbox [x,y,w,h],,,
00013118_008.png,Atelectasis,225.084745762712,547.019216763771,86.7796610169491,79.1864406779661,,,
00014716_007.png,Atelectasis,686.101694915254,131.543730164392,185.491525423729,313.491525423729,,,
00029817_009.png,Atelectasis,221.830508474576,317.053004202818,155.118644067797,216.949152542373,,,
00013118_008.png,Infiltrate,10,20,30,40,,,
00030804_000.png,Cardiomegaly,400,500,300,200
"""


@pytest.fixture
def bbox_csv(tmp_path: Path) -> Path:
    path = tmp_path / "BBox_List_2017.csv"
    path.write_text(BBOX_CSV, encoding="utf-8")
    return path


def test_reads_by_position_with_trailing_columns(bbox_csv: Path) -> None:
    sets = read_nih(bbox_csv)
    assert list(sets) == [
        "00013118_008.png",
        "00014716_007.png",
        "00029817_009.png",
        "00030804_000.png",
    ]
    first = sets["00013118_008.png"]
    assert [b.class_name for b in first.boxes] == ["Atelectasis", "Infiltrate"]
    x0, y0, x1, y1 = first.boxes[0].as_tuple()
    assert (x0, y0) == (225.084745762712, 547.019216763771)
    assert x1 == pytest.approx(225.084745762712 + 86.7796610169491)
    assert y1 == pytest.approx(547.019216763771 + 79.1864406779661)
    assert first.boxes[1].as_tuple() == (10.0, 20.0, 40.0, 60.0)
    assert first.annotators == ("NIH",)
    assert sets["00030804_000.png"].boxes[0].as_tuple() == (400.0, 500.0, 700.0, 700.0)


def test_auto_detected(bbox_csv: Path) -> None:
    assert list(read_annotations(bbox_csv)) == list(read_nih(bbox_csv))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("00000001_000.png,Mass,1,2,x3,4,,,", "w"),
        ("00000001_000.png,Mass,1,2,3,-4,,,", "h"),
        ("00000001_000.png,Mass,1,2", "w"),
    ],
)
def test_bad_row_names_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "BBox_List_2017.csv"
    path.write_text(BBOX_CSV + row + "\n", encoding="utf-8")
    with pytest.raises(AnnotationParseError) as info:
        read_annotations(path)
    assert "line 7" in str(info.value) and repr(field) in str(info.value)
    assert "BBox_List_2017.csv" in str(info.value)
