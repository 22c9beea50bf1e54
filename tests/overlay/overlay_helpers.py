"""Helpers for the explanation-overlay tests: a fake viewer host around the real ViewerState."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from fake_host import FakeHost as SharedFakeHost
from PySide6.QtWidgets import QMainWindow

from engine.annotations import AnnotationSet, read_annotations
from engine.io import load_image

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


class FakeCanvas:
    """Records what a plugin draws: the latest value of every layer key, and every call."""

    def __init__(self) -> None:
        self.overlays: dict[str, np.ndarray] = {}
        self.boxes: dict[str, list[Any]] = {}
        self.displays: dict[str, np.ndarray] = {}
        self.calls: list[tuple[str, str]] = []

    def set_image_overlay(self, key: str, rgba: np.ndarray | None, z: float = 10.0) -> None:
        self.calls.append(("overlay", key))
        if rgba is None:
            self.overlays.pop(key, None)
        else:
            self.overlays[key] = np.array(rgba, copy=True)

    def set_indexed_overlay(self, key: str, index: np.ndarray | None, palette: np.ndarray, z: float = 10.0) -> None:
        """Recorded as the RGBA image it shows, ``palette[index]``."""
        self.calls.append(("indexed", key))
        if index is None:
            self.overlays.pop(key, None)
        else:
            self.overlays[key] = np.asarray(palette, np.uint8)[index]

    def set_boxes(self, key: str, boxes: list[Any] | None) -> None:
        self.calls.append(("boxes", key))
        if boxes is None:
            self.boxes.pop(key, None)
        else:
            self.boxes[key] = list(boxes)

    def set_display_override(self, key: str, display: np.ndarray | None) -> None:
        self.calls.append(("display", key))
        if display is None:
            self.displays.pop(key, None)
        else:
            self.displays[key] = display


class FakeHost(SharedFakeHost):
    """The shared fake host with a recording canvas."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window, FakeCanvas())


def open_demo(host: FakeHost, stem: str) -> None:
    """Open a demo image with its ground truth, as the viewer does."""
    path = DEMO / "images" / f"{stem}.dcm"
    gt = _demo_truth().get(stem, AnnotationSet(image_id=stem))
    host.state.open_image(load_image(path), path, gt, AnnotationSet(image_id=stem))


_TRUTH: dict[str, AnnotationSet] = {}


def _demo_truth() -> dict[str, AnnotationSet]:
    if not _TRUTH:
        _TRUTH.update(read_annotations(DEMO / "train.csv"))
    return _TRUTH


def task_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("radlens-task-")]




def explained(qtbot, panel: Any, timeout: int = 20000) -> Any:
    """Run the panel's explanation and wait for ``state.explanation``."""
    panel.host.state.update(explanation=None)
    assert panel.run()
    qtbot.waitUntil(lambda: panel.host.state.explanation is not None, timeout=timeout)
    return panel.host.state.explanation
