"""A fake viewer host for the perturbation panel tests (real ViewerState, recording canvas)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from fake_host import FakeHost


class RecordingCanvas:
    """Keeps the latest display override per key and every call."""

    def __init__(self) -> None:
        self.displays: dict[str, np.ndarray] = {}
        self.calls: list[tuple[str, str, bool]] = []

    def set_image_overlay(self, key: str, rgba: Any, z: float = 10.0) -> None:
        self.calls.append(("overlay", key, rgba is not None))

    def set_boxes(self, key: str, boxes: Any) -> None:
        self.calls.append(("boxes", key, boxes is not None))

    def set_display_override(self, key: str, display: np.ndarray | None) -> None:
        self.calls.append(("display", key, display is not None))
        if display is None:
            self.displays.pop(key, None)
        else:
            self.displays[key] = np.array(display, copy=True)


class Host(FakeHost):
    """The shared fake host with a canvas that records every call."""

    def __init__(self, window: Any) -> None:
        super().__init__(window, RecordingCanvas())


def task_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("radlens-task-")]
