"""A fake viewer host for the perturbation panel tests (real ViewerState, recording canvas)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
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

    def set_indexed_overlay(self, key: str, index: Any, palette: Any, z: float = 10.0) -> None:
        self.calls.append(("indexed", key, index is not None))

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


def open_panel(qtbot: Any, host: Any) -> Iterator[Any]:
    """The perturbation panel on ``host`` for one test (a fixture body: ``yield from open_panel(...)``).

    Afterwards its runner is shut down and every task thread waited for: a task delivered just before
    shutdown is no longer the runner's, but its thread may still be returning (one that never ends fails).
    """
    from plugins.perturb_lab.panel import create_panel

    p = create_panel(host)
    qtbot.addWidget(p)
    yield p
    p.runner.shutdown(5000)
    qtbot.waitUntil(lambda: task_threads() == [], timeout=5000)


@contextmanager
def model_busy(panel: Any) -> Iterator[None]:
    """Hold the live key busy (as a long model run would): requests made meanwhile wait (serial).

    A task under :data:`plugins.perturb_lab.panel.LIVE_KEY` blocks until the block ends; the
    panel's next request replaces it (its result is never used) and has to wait for it to return.
    """
    from plugins.perturb_lab.panel import LIVE_KEY

    started, release = threading.Event(), threading.Event()

    def block(_cancelled: Any, _progress: Any) -> None:
        started.set()
        release.wait(10)

    panel.runner.submit(LIVE_KEY, block, lambda _r: None, serial=True)
    assert started.wait(5), "the blocking task did not start"
    try:
        yield
    finally:
        release.set()
