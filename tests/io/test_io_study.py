"""Folder scanning: grouping by UIDs, ordering, non-DICOM series, errors, thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import CancelledError, NotAnImageError, UnreadableFileError
from engine.io.study import NON_DICOM_PATIENT, scan_folder, thumbnail
from engine.io.synthetic import make_dataset, write_dicom


def _tree(root: Path) -> dict[str, str]:
    """Patients, studies and series whose folder order, UID order and documented order all differ.

    Studies sort by (date, time): P1's are st2 (Jan 5), st4 (Mar 1, 08:00), st1 (Mar 1, 12:00),
    while folders and UIDs put st1 first (the scan walks folders last-first: st4, st2, st1). Series sort by
    Series Number: st1 holds se2 (1), se1 (2), se6 (3), neither folder order nor its reverse.
    """
    uids = {k: f"1.2.826.0.1.3680043.10.{i}" for i, k in
            enumerate(("st1", "st4", "st2", "st3", "se1", "se2", "se3", "se4", "se5", "se6"), start=1)}
    studies = {"st1": ("20240301", "120000"), "st2": ("20240105", "090000"), "st3": ("20240101", "090000"),
               "st4": ("20240301", "080000")}
    layout = [  # patient, study, series, series number, instance numbers
        ("P1", "st1", "se1", 2, [3, 1, 2]),
        ("P1", "st1", "se2", 1, [1, 2]),
        ("P1", "st1", "se6", 3, [1]),
        ("P1", "st2", "se3", 1, [1]),
        ("P1", "st4", "se5", 1, [1]),
        ("P2", "st3", "se4", 5, [2, 1]),
    ]
    px = np.zeros((4, 4), np.uint16)
    for pid, st, se, number, instances in layout:
        folder = root / pid / st / se
        folder.mkdir(parents=True)
        for n in instances:
            write_dicom(
                folder / f"file{10 - n}",
                px,
                PatientID=pid,
                PatientName=f"Pat^{pid}",
                StudyInstanceUID=uids[st],
                SeriesInstanceUID=uids[se],
                SeriesNumber=number,
                InstanceNumber=n,
                StudyDate=studies[st][0],
                StudyTime=studies[st][1],
                SeriesDescription=se,
            )
    (root / "pngs").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 12), 40 * i, np.uint8)).save(root / "pngs" / f"{i}.png")
    (root / "garbage.bin").write_bytes(b"\x00\x01garbage" * 40)
    sr = make_dataset(px, PatientID="P1")
    del sr.PixelData, sr.Rows, sr.Columns
    sr.save_as(root / "report.dcm", enforce_file_format=True)
    (root / ".hidden").write_bytes(b"ignored")
    return uids


def test_io_scan_groups_patients_studies_series(tmp_path: Path) -> None:
    uids = _tree(tmp_path)
    progress: list[int] = []
    index = scan_folder(tmp_path, on_progress=progress.append)
    names = [p.name for p in index.patients]
    assert names == ["Pat^P1", "Pat^P2", NON_DICOM_PATIENT]
    p1, p2, files = index.patients
    assert [s.uid for s in p1.studies] == [uids["st2"], uids["st4"], uids["st1"]]
    assert [s.date for s in p1.studies] == ["20240105", "20240301", "20240301"]
    assert sum(len(s.series) for s in p1.studies) == 5 and len(p2.studies) == 1
    st1 = p1.studies[2]
    assert [se.uid for se in st1.series] == [uids["se2"], uids["se1"], uids["se6"]]
    assert [i.instance_number for i in st1.series[1].images] == [1, 2, 3]
    assert [i.path.name for i in st1.series[1].images] == ["file9", "file8", "file7"]
    assert [i.instance_number for i in p2.studies[0].series[0].images] == [1, 2]
    assert st1.series[1].images[0].rows == 4 and st1.series[1].images[0].kind == "dicom"
    assert len(list(index.iter_studies())) == 5 and len(list(index.iter_series())) == 7
    png_series = files.studies[0].series
    assert len(png_series) == 1 and len(png_series[0].images) == 2
    assert {i.kind for i in png_series[0].images} == {"raster"}
    assert [e.path.name for e in index.errors] == ["garbage.bin"]
    assert [e.path.name for e in index.skipped] == ["report.dcm"]
    assert index.n_images == 12
    assert "3 patients" in index.summary()
    assert progress == []  # fewer than 100 files


def test_io_scan_cancel_and_missing(tmp_path: Path) -> None:
    _tree(tmp_path)
    with pytest.raises(CancelledError):
        scan_folder(tmp_path, should_stop=lambda: True)
    with pytest.raises(UnreadableFileError):
        scan_folder(tmp_path / "nope")


def test_io_scan_reads_no_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dicom(tmp_path / "a.dcm", np.zeros((4, 4), np.uint16))
    import pydicom

    calls: list[dict[str, object]] = []
    real = pydicom.dcmread

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pydicom, "dcmread", spy)
    assert scan_folder(tmp_path).n_images == 1
    assert calls and all(c.get("stop_before_pixels") for c in calls)


def test_io_thumbnail(tmp_path: Path) -> None:
    write_dicom(tmp_path / "a.dcm", np.arange(300 * 200, dtype=np.uint16).reshape(300, 200))
    thumb = thumbnail(tmp_path / "a.dcm", size=64)
    assert thumb.dtype == np.uint8 and thumb.shape == (64, 43)
    assert thumb[0, 0] < 10 and thumb[-1, -1] > 245
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / "c.png")
    assert thumbnail(tmp_path / "c.png", size=8).shape == (4, 8, 3)
    (tmp_path / "x.bin").write_bytes(b"zzzz" * 50)
    with pytest.raises(NotAnImageError):
        thumbnail(tmp_path / "x.bin")
