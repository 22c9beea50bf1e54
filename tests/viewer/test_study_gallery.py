"""File > Open study…: the review gallery opens a small real study, filters it by outcome, sorts it,
draws the maps of the visible rows off the GUI thread, and a click opens the image in the viewer."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torchvision

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from training.phantom import CLASSES, PhantomConfig
from training.phantom.dataset import generate_dataset
from training.study import parse_study, run_study

N_IMAGES = 8
STUDY = """
name: gallery-test
models: ["{model}"]
methods:
  - name: gradcam
  - name: smoothgrad
    params: {{n: 2, noise: 0.1}}
thresholds:
  top_fraction: [0.05, 0.1]
  fraction_of_max: [0.5]
  otsu: true
run:
  batch_size: 4
"""


@pytest.fixture(scope="module")
def study_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study of 8 phantoms (128 px, seed 3) with a seeded MobileNetV3-small, run in-process."""
    data = tmp_path_factory.mktemp("gallery_data")
    generate_dataset(data, N_IMAGES, 3, PhantomConfig(size=128), fmt="png")
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    manifest = ModelManifest(name="tiny-gallery", version="0.1", architecture="mobilenet_v3_small",
                             class_names=tuple(CLASSES), input_size=(64, 64), in_channels=1, mean=(0.5,), std=(0.25,))
    bundle = save_bundle(tmp_path_factory.mktemp("gallery_bundle") / "tiny", net, manifest)
    out = tmp_path_factory.mktemp("gallery_study")
    run_study(parse_study(STUDY.format(model=bundle)).with_overrides(folder=str(data)), out, workers=0, progress=False)
    return out


def _rows(out: Path) -> list[dict]:
    return pq.read_table(out / "results").to_pylist()


def _gallery(qtbot, window, out: Path):
    from PySide6 import QtWidgets

    from viewer.study_gallery import OBJECT_NAME, open_study

    open_study(window, out)
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QWidget, OBJECT_NAME) is not None, timeout=15000)
    gallery = window.findChild(QtWidgets.QWidget, OBJECT_NAME)
    gallery.resize(1100, 520)
    qtbot.wait(50)
    return gallery


def _class_with_boxes(out: Path) -> str:
    located = [r for r in _rows(out) if r["n_gt_boxes"]]
    assert located, "the phantom set must have ground-truth boxes"
    return max({r["class"] for r in located}, key=lambda c: sum(r["class"] == c for r in located))


def test_menu_has_open_study(open_window) -> None:
    action = open_window.actions_by_id["open_study"]
    assert action.text().startswith("Open study") and action in open_window.menu("File").actions()


def test_gallery_filters_by_outcome_and_sorts(qtbot, open_window, study_out: Path) -> None:
    gallery = _gallery(qtbot, open_window, study_out)
    cls = _class_with_boxes(study_out)
    gallery.class_combo.setCurrentText(cls)
    study = json.loads((study_out / "study.json").read_text())
    threshold = study["models"][0]["thresholds"][study["models"][0]["classes"].index(cls)]
    gradcam = [r for r in _rows(study_out) if r["method"] == "gradcam" and r["class"] == cls]
    assert [e.label for e in gallery.chosen_explanations()] == [
        e.label for e in gallery.review.explanations]  # both methods side by side by default
    assert gallery.model.columnCount() == 3
    assert gallery.model.rowCount() == len(gradcam) == N_IMAGES

    # independent reference: outcome = (label, probability >= the bundle's threshold)
    def outcome(r: dict) -> str:
        positive = r["probability"] >= threshold
        return ("T" if bool(r["label"]) == positive else "F") + ("P" if positive else "N")

    for kept in (["TP"], ["FN"], ["FP", "TN"], ["TP", "FN"]):
        for o, box in gallery.outcome_boxes.items():
            box.setChecked(o in kept)
        shown = sorted(e.image for e in gallery.model.entries)
        assert shown == sorted(r["image"] for r in gradcam if outcome(r) in kept)
        assert all(e.outcome in kept for e in gallery.model.entries)
    assert gallery.outcome_boxes["TP"].text().startswith("TP (")

    for box in gallery.outcome_boxes.values():
        box.setChecked(True)
    probs = [e.probability for e in gallery.model.entries]
    assert probs == sorted(probs, reverse=True)
    gallery.descending.setChecked(False)
    assert [e.probability for e in gallery.model.entries] == sorted(probs)

    gallery.descending.setChecked(True)
    gallery.sort_combo.setCurrentIndex(gallery.sort_combo.findData("iou"))
    gallery.threshold_combo.setCurrentText("top:0.1")
    grid = gradcam[0]["thresholds"]
    assert "top:0.1" in grid
    by_image = {r["image"]: r["iou_mean"][grid.index("top:0.1")] if r["iou_mean"] else None for r in gradcam}
    shown_iou = [by_image[e.image] for e in gallery.model.entries]
    known = [v for v in shown_iou if v is not None]
    assert known and known == sorted(known, reverse=True)
    assert shown_iou[: len(known)] == known  # images without ground truth come last
    text = gallery.model.data(gallery.model.index(0, 1))
    assert f"IoU {known[0]:.3f}" in text


def test_visible_maps_are_computed_off_the_gui_thread_and_cached(qtbot, open_window, study_out: Path) -> None:
    from viewer.study_gallery_maps import MapRequest

    gallery = _gallery(qtbot, open_window, study_out)
    gallery.resize(1100, 330)  # about two rows visible
    qtbot.wait(50)
    gui = threading.current_thread()
    calls: list[threading.Thread] = []
    original = gallery.cache.explain

    def spy(*args, **kwargs):
        calls.append(threading.current_thread())
        return original(*args, **kwargs)

    gallery.cache.explain = spy
    gallery.refresh()
    visible = list(gallery.visible_rows())
    assert 0 < len(visible) < N_IMAGES
    qtbot.waitUntil(lambda: all(gallery.model.map_ready(r, c) for r in visible for c in (1, 2)), timeout=60000)
    qtbot.waitUntil(lambda: not gallery.maps_pending(), timeout=30000)
    assert calls and all(t is not gui for t in calls)
    hidden = [r for r in range(gallery.model.rowCount()) if r not in visible]
    assert hidden and not any(gallery.model.map_ready(r, 1) for r in hidden)  # only the visible rows

    entry = gallery.model.entries[visible[0]]
    gradcam, smoothgrad = gallery.model.explanations
    cached = gallery.cache.result(entry.image, gradcam)
    assert cached is not None and cached.method == "gradcam" and smoothgrad.method == "smoothgrad"
    # the map is the study's explanation: the same method, layer and parameters run directly
    from engine import explain, load_model
    from engine.io import load_image

    spec = gallery.review.model(gradcam.model)
    direct = explain(load_model(spec.path), load_image(entry.path), method="gradcam", layers=[gradcam.layer])
    np.testing.assert_allclose(cached.map(entry.cls), direct.map(entry.cls), atol=1e-5)
    assert cached.layers == (gradcam.layer,) and gallery.cache.result(entry.image, smoothgrad).params["n"] == 2
    overlay = gallery.cache.overlay(MapRequest(entry.image, gradcam, entry.cls))
    plain = gallery.cache.plain(entry.image)
    assert overlay is not None and plain is not None and overlay.shape == plain.shape
    assert np.abs(overlay.astype(int) - plain.astype(int)).mean() > 5  # the map is drawn over it

    n_calls = len(calls)
    gallery.refresh()  # same rows again: everything comes from the cache
    qtbot.wait(300)
    assert len(calls) == n_calls and not gallery.maps_pending()

    gallery.view.verticalScrollBar().setValue(gallery.view.verticalScrollBar().maximum())
    last = gallery.model.rowCount() - 1
    qtbot.waitUntil(lambda: gallery.model.map_ready(last, 1), timeout=60000)


def test_click_opens_the_image_with_that_explanation_and_its_ground_truth(qtbot, open_window,
                                                                          study_out: Path) -> None:
    gallery = _gallery(qtbot, open_window, study_out)
    cls = _class_with_boxes(study_out)
    gallery.class_combo.setCurrentText(cls)
    gallery.sort_combo.setCurrentIndex(gallery.sort_combo.findData("iou"))
    gallery.threshold_combo.setCurrentText("otsu")
    entry = gallery.model.entries[0]
    assert entry.n_gt_boxes > 0  # IoU sort puts images with ground truth first
    index = gallery.model.index(0, 2)  # the SmoothGrad thumbnail
    from PySide6 import QtCore

    qtbot.mouseClick(gallery.view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=gallery.view.visualRect(index).center())
    state = open_window.state
    qtbot.waitUntil(lambda: state.explanation is not None and state.image_path is not None
                    and Path(state.image_path).resolve() == entry.path.resolve(), timeout=60000)
    assert state.explanation.method == "smoothgrad" and state.explanation.params["n"] == 2
    assert state.selected_class == cls and state.threshold == "otsu"
    assert state.model is not None and state.model.weights_sha256 == gallery.review.models[0].sha256
    # the ground truth is the study's annotation file: its boxes of this image
    with (Path(gallery.review.annotations)).open(newline="") as handle:
        expected = sum(1 for r in csv.DictReader(handle)
                       if r["image_id"] == entry.path.stem and r["class_name"] == cls and r["x_min"])
    assert expected == entry.n_gt_boxes
    assert sum(1 for b in state.ground_truth.boxes if b.class_name == cls) == expected
    assert not open_window.errors


def test_tables_and_figures_tab(qtbot, open_window, study_out: Path) -> None:
    gallery = _gallery(qtbot, open_window, study_out)
    tab = gallery.tables
    names = [tab.listing.item(i).text() for i in range(tab.listing.count())]
    assert "Table: classification.csv" in names and "Figure: iou_by_threshold.png" in names
    tab.listing.setCurrentRow(names.index("Table: classification.csv"))
    header = (study_out / "tables" / "classification.csv").read_text().splitlines()[0].split(",")
    assert [tab.table.horizontalHeaderItem(c).text() for c in range(tab.table.columnCount())] == header
    tab.listing.setCurrentRow(names.index("Figure: iou_by_threshold.png"))
    assert tab.stack.currentIndex() == 1 and not tab.figure.pixmap().isNull()


def test_a_folder_without_a_study_is_an_error(qtbot, open_window, tmp_path: Path) -> None:
    from viewer.study_gallery import open_study

    n = len(open_window.errors)
    open_study(open_window, tmp_path)
    qtbot.waitUntil(lambda: len(open_window.errors) > n, timeout=10000)
    title, message = open_window.errors[-1]
    assert title == "Open study" and "study.json" in message and str(tmp_path) in message


def test_a_failing_explanation_keeps_the_plain_thumbnail_and_says_why(qtbot, study_out: Path) -> None:
    from dataclasses import replace

    from training.study.review import open_review
    from viewer.study_gallery_maps import MapCache, MapRequest

    review = open_review(study_out)
    gradcam = next(e for e in review.explanations if e.method == "gradcam")
    broken = replace(gradcam, params_hash="other", params={"no_such_parameter": 1})
    image = review.images[0]
    cache = MapCache(review)
    requests = [MapRequest(image, broken, "Cardiomegaly"), MapRequest(image, gradcam, "Cardiomegaly")]
    assert cache.compute(requests, lambda: False, lambda _f, _m: None) == 1
    assert cache.plain(image) is not None
    assert cache.overlay(requests[0]) is None and "no_such_parameter" in (cache.failure(requests[0]) or "")
    assert cache.overlay(requests[1]) is not None and cache.failure(requests[1]) is None
    assert cache.missing(requests) == []  # a failed cell is not tried again on every scroll


def test_the_explanation_panel_shows_the_study_explanation_and_auto_run_does_not_replace_it(
        qtbot, settings_path, demo_copy, study_out: Path) -> None:
    from PySide6 import QtCore

    from viewer.app import create_window

    window = create_window(str(demo_copy), load_model=False)  # the installed plugins: the panel loads its model
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.show()
    from plugins.explain_overlay.panel import ExplanationPanel

    panel = window.host.docks["explanation"].widget()
    assert isinstance(panel, ExplanationPanel)
    qtbot.waitUntil(lambda: window.state.model is not None and not panel.runner.is_busy(), timeout=60000)
    panel.auto_run.setChecked(True)  # "Explain on open" with the panel's own method
    gallery = _gallery(qtbot, window, study_out)
    entry = gallery.model.entries[0]
    qtbot.mouseClick(gallery.view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=gallery.view.visualRect(gallery.model.index(0, 2)).center())
    state = window.state
    qtbot.waitUntil(lambda: state.explanation is not None and state.explanation.method == "smoothgrad", timeout=60000)
    qtbot.wait(1500)  # time for a replaced auto-run to deliver, were it not cancelled
    assert state.image_path is not None and state.explanation is not None
    assert Path(state.image_path).resolve() == entry.path.resolve()
    assert state.explanation.method == "smoothgrad" and not panel.is_busy()
    assert panel.probability_table.rowCount() == len(state.explanation.class_names)
    window.close()
