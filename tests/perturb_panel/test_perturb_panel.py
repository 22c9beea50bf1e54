"""pytest-qt: the Perturbation panel with a fake host (real ViewerState, recording canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from perturb_panel_helpers import Host, task_threads
from PIL import Image
from PySide6.QtWidgets import QMainWindow

import engine
from engine.annotations import AnnotationSet, BoxAnnotation
from engine.io import load_image
from engine.perturb import PerturbationLab, Replacement, check_document
from plugins.api import Panel
from plugins.perturb_lab.manifest import MANIFEST


@pytest.fixture()
def host(qtbot, tiny_pair, tmp_path: Path) -> Host:
    model, _ = tiny_pair
    window = QMainWindow()
    qtbot.addWidget(window)
    h = Host(window)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    img = (255 * np.clip(0.3 + 0.6 * np.exp(-((xx - 0.6) ** 2 + (yy - 0.4) ** 2) / 0.01), 0, 1)).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    image = load_image(tmp_path / "x.png")
    h.state.update(model=model)
    h.state.open_image(image, tmp_path / "x.png", AnnotationSet(), AnnotationSet())
    return h


@pytest.fixture()
def panel(qtbot, host: Host):
    from plugins.perturb_lab.panel import create_panel

    p = create_panel(host)
    qtbot.addWidget(p)
    yield p
    p.runner.shutdown(5000)
    assert task_threads() == []


def explain(host: Host) -> None:
    ex = engine.explain(host.state.model, host.state.image, "gradcam", layers="features")
    host.state.update(explanation=ex, selected_class=ex.class_names[1])


def test_manifest_declares_the_panel() -> None:
    panels = MANIFEST.of_type(Panel)
    assert [p.id for p in panels] == ["perturbation"] and panels[0].title == "Perturbation"
    assert panels[0].area in ("bottom", "right")


def test_panel_waits_for_an_explanation(panel, host: Host) -> None:
    assert panel.objectName() == "perturbation"
    assert not panel.slider.isEnabled() and panel.source() is None
    assert panel.request_step() is None


def test_slider_moves_change_the_bars_and_match_the_engine(qtbot, panel, host: Host) -> None:
    explain(host)
    qtbot.waitUntil(lambda: panel.applied >= 1, timeout=10000)  # the 0 % step on selection
    assert np.allclose(panel.bars.perturbed, panel.bars.original)
    panel.mode.setCurrentText("Zero")
    for value in (5, 10, 20, 30):  # quick moves: older requests may be dropped
        panel.slider.setValue(value)
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.3
                    and not panel.runner.is_busy(), timeout=10000)
    assert not np.allclose(panel.bars.perturbed, panel.bars.original)
    # the bars show exactly what the engine computes for that setting
    ex = host.state.explanation
    ref = PerturbationLab(host.state.model, host.state.image, ex.map(ex.class_names[1], "image"),
                          resolution="image").perturb(0.3, "morf", Replacement.make("zero"))
    assert np.allclose(panel.bars.perturbed, ref.probabilities, atol=1e-6)
    assert panel.result.k == ref.k
    doc = host.state.perturbation
    check_document(doc)
    assert doc["class"] == ex.class_names[1] and doc["fraction"] == 0.3 and doc["mode"] == "zero"
    assert set(doc["delta_p"]["by_class"]) == set(ex.class_names)
    assert panel.submitted >= panel.applied + panel.stale_dropped


def test_canvas_toggles_original_perturbed_difference(qtbot, panel, host: Host) -> None:
    explain(host)
    panel.slider.setValue(25)
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.25, timeout=10000)
    assert "perturbation" not in host.canvas.displays  # "Original" is the default view
    panel.view.setCurrentText("Perturbed")
    shown = host.canvas.displays["perturbation"]
    display = np.asarray(host.state.image.display)
    assert shown.shape == display.shape
    changed = shown != display
    assert changed.any() and np.array_equal(changed, changed & panel.result.mask)
    panel.view.setCurrentText("Difference")
    diff = host.canvas.displays["perturbation"]
    assert diff.max() == pytest.approx(1.0) and np.all(diff[~panel.result.mask] == 0)
    panel.view.setCurrentText("Original")
    assert "perturbation" not in host.canvas.displays


def test_region_tool_replaces_the_last_drawn_box(qtbot, panel, host: Host) -> None:
    explain(host)
    assert panel.replace_region() is None and host.statuses  # no box drawn yet: the user is told
    boxes = AnnotationSet(boxes=(BoxAnnotation("user", 30.0, 20.0, 46.0, 34.0, annotator="me", source="user"),))
    host.state.edit_user_boxes(boxes, "draw box")
    panel.mode.setCurrentText("Zero")
    assert panel.replace_region() is not None
    qtbot.waitUntil(lambda: host.state.perturbation is not None and "region" in host.state.perturbation,
                    timeout=10000)
    region = host.state.perturbation["region"]
    assert region["box"] == [30.0, 20.0, 46.0, 34.0] and region["pixels"] == 16 * 14
    mask = panel.result.mask
    assert mask[20:34, 30:46].all() and mask.sum() == 16 * 14
    shown = host.canvas.displays["perturbation"]
    assert np.all(shown[20:34, 30:46] == 0.0)
    assert set(region["delta_p"]) == set(host.state.model.class_names)


def test_curves_and_robustness_tabs(qtbot, panel, host: Host) -> None:
    explain(host)
    panel.curve_fractions = [0.0, 0.25, 0.5, 1.0]
    panel.curve_seeds = (0, 1)
    panel.compute_curves()
    qtbot.waitUntil(lambda: panel.curves_view.result is not None, timeout=20000)
    doc = host.state.perturbation
    assert {"deletion_auc", "insertion_auc", "aopc", "random"} <= set(doc)
    assert "MORF" in panel.curves_view.summary.text()
    tab = panel.robustness
    tab.corruption.setCurrentText("gaussian_noise")
    tab.severity.setValue(5)
    qtbot.waitUntil(lambda: tab.last is not None and not panel.runner.is_busy(), timeout=10000)
    clean, probs = tab.last
    assert np.all((probs >= 0) & (probs <= 1)) and not np.allclose(clean, probs)
    assert host.canvas.displays["perturbation"].shape == np.asarray(host.state.image.display).shape


def test_new_image_clears_the_override_and_the_result(qtbot, panel, host: Host) -> None:
    explain(host)
    panel.view.setCurrentText("Perturbed")
    panel.slider.setValue(40)
    qtbot.waitUntil(lambda: "perturbation" in host.canvas.displays, timeout=10000)
    host.state.open_image(host.state.image, None, AnnotationSet(), AnnotationSet())
    assert "perturbation" not in host.canvas.displays and panel.result is None
    assert not panel.slider.isEnabled()
