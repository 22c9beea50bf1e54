"""A fake viewer host for the perturbation panel tests (real ViewerState, recording canvas)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from viewer.state import ViewerState


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


class Settings:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class Host:
    def __init__(self, window: Any) -> None:
        self.state = ViewerState()
        self.canvas = RecordingCanvas()
        self.settings = Settings()
        self.window = window
        self.errors: list[tuple[str, str]] = []
        self.statuses: list[str] = []

    def main_window(self) -> Any:
        return self.window

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statuses.append(message)


def task_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("radlens-task-")]
