"""File › Save as DICOM… (the report plugin's command): writes the current explanation's objects."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from dicom_out_helpers import DEMO_IMAGE, Export
from fake_host import FakeHost

from engine.annotations import AnnotationSet, BoxAnnotation, Source


@pytest.fixture()
def host(qtbot: Any, export: Export) -> Any:
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    qtbot.addWidget(window)
    h = FakeHost(window)
    h.state.open_image(export.image, DEMO_IMAGE, export.gt, AnnotationSet())
    mine = BoxAnnotation("Cardiomegaly", 150, 210, 330, 400, "me", Source.USER)
    h.state.edit_user_boxes(AnnotationSet(boxes=(mine,)), "draw")
    h.state.update(explanation=export.result, threshold="max:0.5")
    yield h
    from plugins.report_export import export as plugin

    runner = plugin.runner()
    if runner is not None:
        runner.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("radlens-task-report")]


def test_save_as_dicom_writes_the_objects(qtbot: Any, host: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from engine.analysis import localise
    from engine.annotations.dicom_sr import read_sr
    from plugins.report_export import dicom

    asked: list[str] = []

    def fake(parent: Any, title: str, start: str) -> str:
        asked.append(title)
        return str(tmp_path / "out")

    monkeypatch.setattr(dicom.QFileDialog, "getExistingDirectory", staticmethod(fake))
    dicom.save_as_dicom(host)
    qtbot.waitUntil(lambda: any(s.startswith("Saved ") for s in host.statuses) or bool(host.errors), timeout=60000)
    assert host.errors == [] and asked and asked[0].startswith("Save as DICOM")
    files = sorted((tmp_path / "out").glob("*.dcm"))
    n = len(host.state.explanation.explained)
    assert len(files) == 2 + n and host.settings.get("last_dicom_dir") == str(tmp_path / "out")
    sr = next(p for p in files if p.name.endswith(".sr.dcm"))
    boxes = read_sr(sr).annotations[host.state.image.metadata.sop_instance_uid].boxes
    assert [(b.as_tuple(), b.annotator) for b in boxes if b.source != Source.MODEL] == [
        ((150.0, 210.0, 330.0, 400.0), "me")]
    # the model's boxes are cut at the viewer's threshold, as the canvas shows them
    locs = localise(host.state.explanation, "max:0.5", host.state.ground_truth.merged(host.state.user_boxes))
    assert sum(b.source == Source.MODEL for b in boxes) == sum(len(v.boxes) for v in locs.values())


def test_nothing_explained_says_what_to_do(qtbot: Any, host: Any) -> None:
    from plugins.report_export import dicom

    host.state.update(explanation=None)
    dicom.save_as_dicom(host)
    assert host.errors and "Fix:" in host.errors[0][1]
