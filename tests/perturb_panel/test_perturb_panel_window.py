"""The perturbation plugin inside the real main window: dock, canvas override, clean shutdown."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from PySide6 import QtWidgets

if TYPE_CHECKING:
    from plugins.perturb_lab.panel import PerturbationPanel

ROOT = Path(__file__).resolve().parents[2]


def test_real_window_hosts_the_panel_and_shows_the_perturbed_image(qtbot, tmp_path, monkeypatch, tiny_pair) -> None:
    import engine
    from plugins.api import LoadedPlugin
    from plugins.perturb_lab.manifest import MANIFEST
    from viewer.app import create_window

    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "settings.json"))
    (tmp_path / "demo" / "images").mkdir(parents=True)  # the images only, never a user's *.radlens.json sidecar
    for dcm in (ROOT / "resources" / "demo" / "images").glob("*.dcm"):
        shutil.copy2(dcm, tmp_path / "demo" / "images" / dcm.name)
    shutil.copy2(ROOT / "resources" / "demo" / "train.csv", tmp_path / "demo" / "train.csv")
    before = set(threading.enumerate())
    window = create_window(str(tmp_path / "demo" / "images"),
                           plugins=[LoadedPlugin("perturbation", MANIFEST)], load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    found = window.findChild(QtWidgets.QWidget, "perturbation")
    assert found is not None and found.__class__.__name__ == "PerturbationPanel"
    panel = cast("PerturbationPanel", found)  # findChild is typed by the class it was asked for
    model, _ = tiny_pair  # a small model keeps the test fast; the panel does not care which
    ex = engine.explain(model, window.state.image, "gradcam", layers="features")
    target = ex.class_names[int(np.argmax(ex.probabilities))]
    window.state.update(model=model, explanation=ex, selected_class=target)
    panel.view.setCurrentText("Perturbed")
    panel.slider.setValue(20)
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.fraction == 0.2, timeout=20000)
    assert "perturbation" in window.canvas.layer_keys()["overrides"]
    perturbation = window.state.perturbation
    assert perturbation is not None and perturbation["class"] == target
    panel.view.setCurrentText("Original")
    assert "perturbation" not in window.canvas.layer_keys()["overrides"]
    window.close()
    qtbot.waitUntil(lambda: not [t for t in set(threading.enumerate()) - before
                                 if t.name.startswith("radlens-task-")], timeout=10000)
