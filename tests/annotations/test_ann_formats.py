"""Format detection and read_annotations errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.annotations import FORMATS, detect_format, format_by_name, read_annotations
from engine.errors import AnnotationError, UnknownAnnotationFormatError


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n", "vinbigdata"),
        (
            "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max,width,height\n",
            "vinbigdata",
        ),
        ("Image Index,Finding Label,Bbox [x,y,w,h],,,\n", "nih"),
        ("ImageId, EncodedPixels\n", "siim"),
        ("\ufeffImageId,EncodedPixels\r\n", "siim"),
    ],
)
def test_detects_by_header(tmp_path: Path, header: str, name: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(header, encoding="utf-8")
    assert detect_format(path).name == name
    assert read_annotations(path) == {}


def test_unknown_format_names_file_and_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("patient,finding\n1,2\n", encoding="utf-8")
    with pytest.raises(UnknownAnnotationFormatError) as info:
        read_annotations(path)
    message = str(info.value)
    assert "mystery.csv" in message
    for fmt in FORMATS:
        assert fmt.description in message


def test_binary_and_empty_files_are_unknown(tmp_path: Path) -> None:
    for name, data in [("a.csv", b""), ("b.png", b"\x89PNG\r\n\x1a\n\x00\xff\xfe")]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnknownAnnotationFormatError):
            read_annotations(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="does not exist"):
        read_annotations(tmp_path / "nope.csv")


def test_explicit_format(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("ImageId,EncodedPixels\nu, -1\n", encoding="utf-8")
    assert list(read_annotations(path, format_name="siim")) == ["u"]
    with pytest.raises(UnknownAnnotationFormatError, match="vinbigdata"):
        format_by_name("coco")
