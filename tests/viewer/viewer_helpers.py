"""Helpers of the viewer tests: a clean demo copy, image points to viewport positions, simulated drags."""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def copy_demo(target: Path) -> Path:
    """Copy only what the tests need from resources/demo: the DICOM images and ``train.csv``.

    Never a user's ``<image>.radlens.json`` sidecar (a box someone once drew on the demo study
    would be loaded into every test window), nor anything else lying in the demo folder.

    Returns:
        ``target / "images"``, the folder to open; ``train.csv`` is beside it, as in the demo.
    """
    images = target / "images"
    images.mkdir(parents=True)
    for dcm in sorted((DEMO / "images").glob("*.dcm")):
        shutil.copy2(dcm, images / dcm.name)
    shutil.copy2(DEMO / "train.csv", target / "train.csv")
    return images


def to_viewport(window, x: float, y: float):
    """Viewport widget position of image pixel ``(x, y)``."""
    from PySide6 import QtCore

    canvas = window.canvas
    scene = canvas.group.mapToScene(QtCore.QPointF(x, y))
    return canvas.mapFromScene(scene)


def drag(qtbot, window, start, end, button, steps: int = 6) -> None:
    """Press at image point ``start``, move in steps, release at ``end``."""
    viewport = window.canvas.viewport()
    p0 = to_viewport(window, *start)
    qtbot.mousePress(viewport, button, pos=p0)
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        qtbot.mouseMove(viewport, to_viewport(window, x, y))
        qtbot.wait(5)
    qtbot.mouseRelease(viewport, button, pos=to_viewport(window, *end))
    qtbot.wait(20)


def make_panel(_host):
    """A plugin panel factory for layout tests: a plain label that would like to be tall."""
    from PySide6 import QtWidgets

    label = QtWidgets.QLabel("panel")
    label.setMinimumHeight(120)
    return label
