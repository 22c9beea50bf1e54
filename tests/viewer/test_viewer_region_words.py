"""The boxes in words on an image without orientation, in the real main window: flips and rotations
of the view change neither the words nor the 'assumed' note (issue #16)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures("settings_path")


@pytest.fixture()
def png_window(qtbot, tmp_path, tiny_pair):
    """The main window with its plugins on a PNG (no orientation), the tiny model set, explained."""
    from viewer.app import create_window

    yy, xx = np.mgrid[0:96, 0:128] / 96.0
    img = 0.2 + 0.7 * np.exp(-((xx - 0.35) ** 2 + (yy - 0.3) ** 2) / 0.01)
    path = tmp_path / "film.png"
    Image.fromarray((255 * img).astype(np.uint8)).save(path)
    window = create_window(str(path), load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    if "explanation.run" not in window.host.commands:
        pytest.fail(f"the explanation-overlay plugin did not load: {window.host.failures()}")
    window.state.update(model=tiny_pair[0])
    panel: Any = window.host.panel_widget("explanation")
    assert panel is not None
    qtbot.waitUntil(lambda: panel.method_chooser.layers.count() > 0, timeout=10000)
    assert window.host.run_command("explanation.run")
    qtbot.waitUntil(lambda: window.state.localisation is not None and bool(panel.region_list.texts()),
                    timeout=30000)
    yield window, panel
    window.close()


def _expected_side(box: np.ndarray, width: int) -> str:
    """The patient's side under the radiographic convention: image left = patient's right."""
    left = (min(box[2], width / 2) - min(box[0], width / 2)) / (box[2] - box[0])
    return "patient's right" if left >= 0.75 else "patient's left" if left <= 0.25 else "across the midline"


def test_words_name_the_patients_side_as_assumed_and_ignore_flips_and_rotations(qtbot, png_window) -> None:
    window, panel = png_window
    state = window.state
    assert tuple(state.image.metadata.patient_orientation or ()) == ()
    texts, note = panel.region_list.texts(), panel.region_list.note()
    boxes = np.asarray(state.localisation.boxes, float).reshape(-1, 4)
    assert len(texts) == len(boxes) > 0
    assert note.startswith("Side assumed: the file has no orientation") and "flipping or rotating" in note
    assert "Side assumed" in panel.region_list.text() and "#a04000" in panel.region_list.text()  # shown, in amber
    width = state.image.shape[1]
    assert any("patient's right" in t for t in texts)  # the bright blob sits in the image's left half
    for box, text in zip(boxes, texts, strict=True):
        assert _expected_side(box, width) in text and "(assumed: no orientation in the file" in text
    canvas = window.canvas
    for change in (lambda: canvas.flip(True), lambda: canvas.flip(False), lambda: canvas.rotate(1)):
        change()
        qtbot.wait(50)
        assert panel.region_list.texts() == texts and panel.region_list.note() == note
    assert (canvas.model.orientation.rotation, canvas.model.orientation.flip_h, canvas.model.orientation.flip_v) \
        == (1, True, True)
    # a change that does re-cut the boxes (the threshold) describes them again under the same view: same rule
    control = panel.threshold_control
    control.kind.setCurrentIndex(control.kind.findData("top_fraction"))
    control.value.setValue(0.02)
    qtbot.waitUntil(lambda: panel.region_list.texts() != texts, timeout=10000)
    boxes = np.asarray(state.localisation.boxes, float).reshape(-1, 4)
    for box, text in zip(boxes, panel.region_list.texts(), strict=True):
        assert _expected_side(box, width) in text
    assert panel.region_list.note() == note
