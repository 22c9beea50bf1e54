"""RadLens JSON sidecar: round trip, discovery, versioning, corruption and atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine.atomic
from engine.annotations import (
    NO_FINDING,
    SCHEMA_VERSION,
    AnnotationSet,
    BoxAnnotation,
    ImageLabel,
    Source,
    find_sidecar,
    read_annotations,
    read_sidecar,
    write_sidecar,
)
from engine.annotations import sidecar as sidecar_module
from engine.errors import AnnotationError, AnnotationParseError


def _set() -> AnnotationSet:
    return AnnotationSet(
        (
            BoxAnnotation(
                "Cardiomegaly", 691, 1375, 1653, 1831, annotator="R10", source=Source.GROUND_TRUTH
            ),
            BoxAnnotation(
                "Nodule/Mass",
                1.5,
                2.5,
                3.5,
                4.5,
                annotator="resnet50",
                source=Source.MODEL,
                score=0.87,
                note="hi ✓",
            ),
        ),
        (ImageLabel(NO_FINDING, "R3"),),
        "img001.dcm",
    )


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img001.dcm"
    path.write_bytes(b"not really DICOM")
    return path


def test_round_trip_and_discovery(image: Path) -> None:
    assert find_sidecar(image) is None
    written = write_sidecar(image, _set(), sop_instance_uid="1.2.3", image_shape=(2048, 2500))
    assert written.name == "img001.dcm.radlens.json"
    assert find_sidecar(image) == written
    doc = json.loads(written.read_text(encoding="utf-8"))
    assert doc["schema_version"] == SCHEMA_VERSION and doc["app"]["version"]
    assert doc["image"] == {
        "file_name": "img001.dcm",
        "sop_instance_uid": "1.2.3",
        "rows": 2048,
        "columns": 2500,
    }
    sidecar = read_sidecar(image)
    assert sidecar.image.sop_instance_uid == "1.2.3"
    assert (sidecar.image.rows, sidecar.image.columns) == (2048, 2500)
    original = _set()
    assert [b.key() for b in sidecar.annotations.boxes] == [b.key() for b in original.boxes]
    assert sidecar.annotations.labels == original.labels
    assert read_sidecar(written).annotations.labels == original.labels  # sidecar path accepted too
    assert list(read_annotations(written)) == ["img001.dcm"]


def test_ids_survive_round_trip(image: Path) -> None:
    s = _set()
    write_sidecar(image, s)
    assert [b.id for b in read_sidecar(image).annotations.boxes] == [b.id for b in s.boxes]


def test_missing_sidecar_is_a_clear_error(image: Path) -> None:
    with pytest.raises(AnnotationError, match="No RadLens sidecar"):
        read_sidecar(image)


def test_unknown_schema_version(image: Path) -> None:
    path = write_sidecar(image, _set())
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(AnnotationError, match="schema version 99"):
        read_sidecar(image)


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "radlens.annotations", "schema_version": 1, "ima',
        '{"format": "radlens.annotations", "schema_version": 1, "image": {"file_name": "a"},'
        ' "boxes": [{"class_name": "A", "x0": "one"}]}',
        '{"format": "radlens.annotations", "schema_version": 1, "image": {"file_name": "a"},'
        ' "boxes": [{"class_name": "A", "x0": 5, "y0": 0, "x1": 1, "y1": 1, "annotator": "",'
        ' "source": "user"}]}',
    ],
)
def test_corrupt_sidecar_is_a_parse_error_and_backed_up_before_writing(
    image: Path, text: str
) -> None:
    path = image.with_name("img001.dcm.radlens.json")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnnotationParseError, match=r"img001\.dcm\.radlens\.json"):
        read_sidecar(image)
    write_sidecar(image, _set())
    assert path.with_name(path.name + ".bak").read_text(encoding="utf-8") == text
    assert len(read_sidecar(image).annotations.boxes) == 2
    # a second corrupt file does not overwrite the first backup
    path.write_text("garbage", encoding="utf-8")
    write_sidecar(image, _set())
    assert path.with_name(path.name + ".1.bak").read_text(encoding="utf-8") == "garbage"
    assert path.with_name(path.name + ".bak").read_text(encoding="utf-8") == text


def test_valid_sidecar_is_overwritten_without_backup(image: Path) -> None:
    write_sidecar(image, _set())
    write_sidecar(image, AnnotationSet())
    assert read_sidecar(image).annotations.is_empty
    assert not list(image.parent.glob("*.bak"))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failed_rename_keeps_previous_sidecar(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_sidecar(image, _set())
    before = path.read_bytes()

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.atomic.os, "replace", boom)
    with pytest.raises(AnnotationError, match="previous version is intact"):
        write_sidecar(image, AnnotationSet())
    assert path.read_bytes() == before
    assert _leftovers(image.parent) == []


def test_failed_serialisation_keeps_previous_sidecar(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sidecar(image, _set())
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("serialiser crashed")

    monkeypatch.setattr(sidecar_module.json, "dumps", boom)
    with pytest.raises(RuntimeError):
        write_sidecar(image, AnnotationSet())
    assert path.read_bytes() == before
    assert _leftovers(image.parent) == []


def test_app_version_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    import engine.version as version_module

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    # neither a source tree's pyproject.toml nor installed metadata: "unknown"
    monkeypatch.setattr(version_module, "_from_source_tree", lambda: None)
    monkeypatch.setattr(version_module.importlib.metadata, "version", missing)
    version_module.version.cache_clear()
    try:
        assert sidecar_module.app_version() == "unknown"
    finally:
        version_module.version.cache_clear()
