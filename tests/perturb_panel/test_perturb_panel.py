"""pytest-qt: the Perturbation panel with a fake host (real ViewerState, recording canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from perturb_panel_helpers import Host, model_busy, open_panel
from PIL import Image
from PySide6.QtWidgets import QMainWindow

import engine
from engine.annotations import AnnotationSet, BoxAnnotation, Source
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
    yield from open_panel(qtbot, host)


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
    boxes = AnnotationSet(boxes=(BoxAnnotation("user", 30.0, 20.0, 46.0, 34.0, annotator="me", source=Source.USER),))
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
    # the explanation starts the live preview (a late one keeps the curves' document: the test above)
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=20000)
    panel.curve_fractions = [0.0, 0.25, 0.5, 1.0]
    panel.curve_seeds = (0, 1)
    panel.compute_curves()
    qtbot.waitUntil(lambda: panel.curves_view.result is not None, timeout=20000)
    doc = host.state.perturbation
    assert {"deletion_auc", "insertion_auc", "aopc", "random"} <= set(doc)
    assert "MoRF" in panel.curves_view.summary.text()
    tab = panel.robustness
    tab.corruption.setCurrentText("gaussian_noise")
    tab.severity.setValue(5)
    qtbot.waitUntil(lambda: tab.last is not None and not panel.runner.is_busy(), timeout=10000)
    clean, probs = tab.last
    assert np.all((probs >= 0) & (probs <= 1)) and not np.allclose(clean, probs)
    assert host.canvas.displays["perturbation"].shape == np.asarray(host.state.image.display).shape


def test_a_slider_step_finishing_after_later_curves_keeps_their_document(qtbot, panel, host: Host) -> None:
    """state.perturbation holds the document of the latest request: a slider step asked for before
    "Compute curves" but finished after them does not replace the curves (the exported JSON would
    lose them); a step asked for after the curves does."""
    explain(host)
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=20000)
    panel.curve_fractions = [0.0, 0.5, 1.0]
    panel.curve_seeds = (0,)
    with model_busy(panel):
        panel.slider.setValue(40)  # waits behind the busy model
        panel.compute_curves()
        qtbot.waitUntil(lambda: panel.curves_view.result is not None, timeout=20000)
        assert "deletion_auc" in host.state.perturbation
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.4, timeout=20000)
    assert "deletion_auc" in host.state.perturbation  # the late step showed its bars, kept the curves
    panel.slider.setValue(20)
    qtbot.waitUntil(lambda: host.state.perturbation.get("fraction") == 0.2, timeout=20000)
    assert "deletion_auc" not in host.state.perturbation


def test_new_image_clears_the_override_and_the_result(qtbot, panel, host: Host) -> None:
    explain(host)
    panel.view.setCurrentText("Perturbed")
    panel.slider.setValue(40)
    qtbot.waitUntil(lambda: "perturbation" in host.canvas.displays, timeout=10000)
    host.state.open_image(host.state.image, None, AnnotationSet(), AnnotationSet())
    assert "perturbation" not in host.canvas.displays and panel.result is None
    assert not panel.slider.isEnabled()


def test_requests_superseded_while_waiting_for_the_model_are_not_computed(qtbot, panel, host: Host) -> None:
    """Stale slider requests are dropped before they run the model, not only when they return."""
    explain(host)
    qtbot.waitUntil(lambda: panel.applied >= 1 and not panel.runner.is_busy(), timeout=10000)
    computed: list[float] = []
    real_step = panel.session.step

    def counting_step(src, fraction, order, rep, seed=0):
        computed.append(fraction)
        return real_step(src, fraction, order, rep, seed)

    panel.session.step = counting_step
    submitted, applied = panel.submitted, panel.applied
    with model_busy(panel):  # the model is busy (as with a long explanation): every move has to wait
        for value in (10, 20, 30, 40, 50):
            panel.slider.setValue(value)
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.5
                    and not panel.runner.is_busy(), timeout=10000)
    assert computed == [0.5]  # only the newest move ran the model
    assert panel.submitted - submitted == 5 and panel.applied - applied == 1
    assert panel.stale_dropped >= 4


def test_bars_stay_readable_wide_and_narrow(qtbot) -> None:
    from plugins.perturb_lab.bars import LABEL_AT, ProbabilityBars

    bars = ProbabilityBars()
    qtbot.addWidget(bars)
    bars.show()
    classes = ("Nodule/Mass", "Pleural effusion", "Pneumothorax", "Cardiomegaly", "Consolidation")
    original = np.array([0.1, 0.99, 0.02, 0.97, 0.5])
    perturbed = np.array([0.6, 0.05, 0.02, 0.8, 0.51])
    bars.set_values(classes, original, perturbed)
    assert bars.label_texts() == [f"Δp {d:+.3f}" for d in original - perturbed]
    for size, horizontal in (((1200, 260), False), ((380, 700), True), ((1200, 260), False)):
        bars.resize(*size)
        qtbot.waitUntil(lambda h=horizontal: bars.horizontal is h, timeout=5000)
        (x0, x1), (y0, y1) = bars.getPlotItem().getViewBox().viewRange()
        value_range, class_range = ((x0, x1), (y0, y1)) if horizontal else ((y0, y1), (x0, x1))
        assert value_range[0] < 0.0 and 1.0 < LABEL_AT < value_range[1]  # 0 and 1 and the Δp band are in view
        for i, label in enumerate(bars._labels):
            p = label.pos()
            value, where = (p.x(), -p.y()) if horizontal else (p.y(), p.x())
            assert value == LABEL_AT and where == i and class_range[0] < (-i if horizontal else i) < class_range[1]
        # every class is named on the class axis, in full (these names fit)
        axis = bars.getPlotItem().getAxis("left" if horizontal else "bottom")
        assert [t for _, t in axis._tickLevels[0]] == list(classes)
    bars.set_values(classes, original, None)  # no perturbation yet: no Δp text
    assert bars.label_texts() == [""] * 5


def test_the_last_action_wins_between_slider_and_region(qtbot, panel, host: Host) -> None:
    """A slider step still waiting when the user replaces a box must not overwrite the region's result."""
    explain(host)
    qtbot.waitUntil(lambda: panel.applied >= 1 and not panel.runner.is_busy(), timeout=10000)
    host.state.edit_user_boxes(AnnotationSet(boxes=(BoxAnnotation("user", 4.0, 6.0, 20.0, 18.0, annotator="me",
                                                                     source=Source.USER),)),
                               "draw box")
    computed: list[float] = []
    real_step = panel.session.step

    def counting_step(src, fraction, *a):
        computed.append(fraction)
        return real_step(src, fraction, *a)

    panel.session.step = counting_step
    with model_busy(panel):
        panel.slider.setValue(60)
        assert panel.replace_region() is not None
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=10000)
    assert computed == []  # the step was superseded by the region before it could run
    assert panel.result is not None and panel.result.fraction is None and panel.result.k == 16 * 12
    assert "region" in host.state.perturbation and "fraction" not in host.state.perturbation
    assert panel.stale_dropped == panel.submitted - panel.applied  # the superseded step counts as dropped
    with model_busy(panel):  # and the other way round
        assert panel.replace_region() is not None
        panel.slider.setValue(40)
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.4
                    and not panel.runner.is_busy(), timeout=10000)
    assert "region" not in host.state.perturbation and host.state.perturbation["fraction"] == 0.4


def test_every_replacement_mode_of_the_panel_runs(qtbot, panel, host: Host) -> None:
    from plugins.perturb_lab.panel import MODES

    explain(host)
    panel.slider.setValue(20)
    for label, (mode, _params) in MODES.items():
        panel.mode.setCurrentText(label)
        rep = panel.replacement()
        assert rep.mode == mode
        if mode == "dataset_mean":
            assert rep.params["value"] == pytest.approx(float(np.mean(host.state.model.manifest.mean)))
        qtbot.waitUntil(lambda: panel.result is not None and not panel.runner.is_busy(), timeout=10000)
        doc = host.state.perturbation
        assert doc["mode"] == mode and doc["fraction"] == 0.2 and not host.errors


def test_robustness_tab_measures_heatmap_movement_like_the_engine(qtbot, panel, host: Host) -> None:
    from engine.perturb.robustness import robustness

    explain(host)
    tab = panel.robustness
    tab.corruption.setCurrentText("contrast")
    # one model run at a time: the figures, not the engine's per-model lock, are under test here
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=10000)
    assert tab.measure_maps() is not None
    qtbot.waitUntil(lambda: tab.movement is not None, timeout=30000)
    ex, target = host.state.explanation, host.state.selected_class
    ref = robustness(host.state.model, host.state.image, method=ex.method, layers=list(ex.layers),
                     corruptions=["contrast"], method_params=dict(ex.params))
    assert [e["severity"] for e in tab.movement["results"]] == [1, 2, 3, 4, 5]
    for got, want in zip(tab.movement["results"], ref["results"], strict=True):
        assert got["delta_p"][target] == pytest.approx(want["delta_p"][target], abs=1e-9)
        assert got["maps"]["features"][target] == pytest.approx(want["maps"]["features"][target], abs=1e-9)
    text = tab.maps_table.text()
    assert "features: RMSE / SSIM" in text and f"{ref['results'][4]['maps']['features'][target]['ssim']:.3f}" in text
    host.state.update(selected_class=ex.class_names[0])  # another map: the table is cleared
    assert tab.movement is None and tab.maps_table.text() == ""
