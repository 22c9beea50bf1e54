"""Files: multi-frame CT with HU and named presets, drag-and-drop, annotation import and export."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui

from engine.annotations import read_vinbigdata
from engine.io.synthetic import write_dicom


def _ct(path):
    frames = np.stack([np.full((48, 64), v, dtype=np.int16) for v in (1000, 1100, 1200)])
    frames[:, 10, 20] = 3000
    write_dicom(path, frames, Modality="CT", RescaleSlope=1, RescaleIntercept=-1024,
                WindowCenter=[40, -600], WindowWidth=[400, 1500], WindowCenterWidthExplanation=["SOFT", "LUNG"],
                PixelSpacing=[0.5, 0.25])
    return path


def test_multiframe_ct_frames_presets_and_hu(open_window, qtbot, tmp_path):
    w = open_window
    (tmp_path / "ct").mkdir()
    path = _ct(tmp_path / "ct" / "ct.dcm")
    w.open_path(path)
    qtbot.waitUntil(lambda: w.state.image_path == path, timeout=5000)
    assert w.state.image.n_frames == 3 and w.frames.action.isVisible()
    assert w.state.ground_truth.boxes == ()  # the demo's ground truth is not applied to other folders
    names = [w.presets.itemText(i) for i in range(w.presets.count())]
    assert any("SOFT" in n for n in names) and any("LUNG" in n for n in names) and names[-1].startswith("Auto")
    w.frames.slider.setValue(2)
    assert w.state.image.frame_index == 2
    w._on_hover(5.5, 5.5)
    assert "value 176 HU" in w.status.cursor.text()  # 1200 - 1024
    w._on_hover(20.2, 10.7)
    assert "value 1976 HU" in w.status.cursor.text()
    w.apply_preset(2)
    assert w.canvas.model.window.name == "LUNG"
    w.actions_by_id["next_frame"].trigger()
    assert w.state.image.frame_index == 0
    w.open_path(path.parent)  # back to the demo-free folder: single-frame demo image hides the slider later
    w.open_demo()
    qtbot.waitUntil(lambda: w.state.image is not None and w.state.image.n_frames == 1, timeout=10000)
    assert not w.frames.action.isVisible()


def test_drop_a_file_opens_it(open_window, qtbot, tmp_path):
    w = open_window
    (tmp_path / "drop").mkdir()
    path = _ct(tmp_path / "drop" / "dropped.dcm")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    w.dropEvent(event)
    assert w.state.image_path == path


def test_import_and_export_annotations(open_window, qtbot, tmp_path):
    w = open_window
    opening = w.opening
    qtbot.waitUntil(lambda: len(w.browser.image_paths()) == 6, timeout=10000)
    gt = tmp_path / "other.csv"
    gt.write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                  "phantom_00000,Cardiomegaly,3,R99,10,20,110,220\n")
    assert opening.import_annotations(gt) == 1
    assert [(b.class_name, b.annotator, b.as_tuple()) for b in w.state.ground_truth.boxes] == [
        ("Cardiomegaly", "R99", (10.0, 20.0, 110.0, 220.0))]
    assert w.settings["annotations_path"] == str(gt)
    box = w.layer.add_box((30.0, 40.0, 90.0, 100.0))
    out = opening.export_boxes("csv", tmp_path / "mine.csv")
    back = read_vinbigdata(out)
    assert [(b.class_name, b.as_tuple()) for b in back["phantom_00000"].boxes] == [(box.class_name, box.as_tuple())]
    (tmp_path / "json").mkdir()
    side = opening.export_boxes("json", tmp_path / "json")
    assert side.name == "phantom_00000.dcm.radlens.json" and side.parent == tmp_path / "json"


def test_cursor_value_unit_comes_from_the_file(open_window, tmp_path):
    """HU only for rescaled CT; a stated RescaleType (not "US") names the unit; stored values have none."""
    w = open_window
    (tmp_path / "units").mkdir()
    pixels = np.full((40, 50), 200, dtype=np.uint16)
    cases: dict[str, tuple[dict[str, object], str]] = {
        "od.dcm": (dict(Modality="DX", RescaleSlope=0.01, RescaleIntercept=0, RescaleType="OD"), "value 2 OD"),
        "us.dcm": (dict(Modality="DX", RescaleSlope=1, RescaleIntercept=0, RescaleType="US"), "value 200"),
        "ct_stored.dcm": (dict(Modality="CT"), "value 200"),  # no rescale: stored values, not HU
        "ct.dcm": (dict(Modality="CT", RescaleSlope=1, RescaleIntercept=-1024), "value -824 HU"),
    }
    for name, (tags, expected) in cases.items():
        path = tmp_path / "units" / name
        write_dicom(path, pixels, **tags)
        assert w.open_image(path), w.errors
        w._on_hover(3.5, 4.5)
        text = w.status.cursor.text()
        assert text.endswith(expected), (name, text)


def _drop(window, *paths):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_dropping_an_annotation_file_imports_it(open_window, qtbot, tmp_path):
    w = open_window
    (tmp_path / "ct").mkdir()
    path = _ct(tmp_path / "ct" / "scan.dcm")
    csv = tmp_path / "boxes.csv"
    csv.write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                   "scan,Nodule/Mass,0,R7,5,6,25,30\n")
    _drop(w, path, csv)  # an image and its annotations together
    assert w.state.image_path == path
    assert [(b.class_name, b.annotator, b.as_tuple()) for b in w.state.ground_truth.boxes] == [
        ("Nodule/Mass", "R7", (5.0, 6.0, 25.0, 30.0))]
    bad = tmp_path / "bad.csv"
    bad.write_text("this is not an annotation file\n")
    _drop(w, bad)
    assert w.errors and w.errors[-1][0] == "Import annotations"
    assert w.state.image_path == path and len(w.state.ground_truth.boxes) == 1  # nothing else changed
