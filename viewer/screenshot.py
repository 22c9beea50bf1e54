"""``radlens view PATH --screenshot FILE``: open, explain, render, save the whole window, exit.

Steps: open PATH (default: last path or the demo study), wait for the first image and the start-up
model, run the command ``explanation.run`` (from the explanation-overlay plugin), wait until
``state.explanation`` is set, let the canvas render, grab the window to PNG (atomic write), exit 0.
Any failure (no such command, an error, the timeout) prints a message and exits 1. The user's
settings file is read but not changed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from engine.atomic import atomic_write_bytes
from plugins.api import PluginError
from viewer.app import application, create_window
from viewer.main_window import MainWindow
from viewer.settings import Settings

COMMAND = "explanation.run"


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until ``condition()`` or the timeout; returns the condition."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return True


def grab_png(widget: QtWidgets.QWidget, out: Path) -> Path:
    """Render ``widget`` and write it as PNG atomically."""
    pixmap = widget.grab()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        raise OSError("the window could not be encoded as PNG")
    atomic_write_bytes(out, bytes(buffer.data().data()))
    return out


def show_window(window: QtWidgets.QMainWindow, size: tuple[int, int] = (1600, 1000)) -> None:
    """Show ``window`` at ``size`` with the default dock layout, whatever the user's settings hold."""
    window.resize(*size)
    window.show()
    QtWidgets.QApplication.processEvents()
    window.reset_layout()  # type: ignore[attr-defined]


@contextmanager
def opened_window(path: str | None, *, settings: Settings | None = None, size: tuple[int, int] = (1600, 1000),
                  **create: Any) -> Iterator[MainWindow]:
    """The main window on ``path`` (``create_window``; ``create`` are its keyword arguments, e.g.
    ``plugins``), shown at ``size`` with the default layout (:func:`show_window`), closed and shut
    down on leaving, whatever happened. Settings default to a throw-away ``Settings(persist=False)``."""
    window = create_window(path, settings=settings or Settings(persist=False), **create)
    try:
        show_window(window, size)
        yield window
    finally:
        window.close()
        window.shutdown()


def save_settled(widget: QtWidgets.QWidget, out: Path, settle_s: float = 1.0) -> Path:
    """Let the event loop render for ``settle_s``, save ``widget`` as PNG and say so on stderr."""
    wait_until(lambda: False, settle_s)
    grab_png(widget, out)
    print(f"wrote {out}", file=sys.stderr)
    return out


def open_and_explain(window: Any, timeout_s: float) -> str | None:
    """Wait for the first image and the start-up model, run ``explanation.run`` and wait for the
    explanation; None when it is there, else what went wrong (for the screenshot scripts too)."""
    if not wait_until(lambda: window.state.image is not None or bool(window.errors), 60):
        return "no image was opened within 60 s."
    if window.state.image is None:
        return f"no image could be opened: {window.errors[-1][1]}"
    wait_until(lambda: not window.model_loading, timeout_s)
    try:
        ok = window.host.run_command(COMMAND)
    except PluginError as exc:
        return f"the command {COMMAND!r} is not available ({exc})."
    if not ok:
        return f"{COMMAND} failed: {window.errors[-1][1] if window.errors else 'see the log'}"
    n_errors = len(window.errors)
    if not wait_until(lambda: window.state.explanation is not None or len(window.errors) > n_errors, timeout_s):
        return f"no explanation after {timeout_s:.0f} s (state.explanation was never set)."
    if window.state.explanation is None:
        return f"the explanation failed: {window.errors[-1][1]}"
    return None


def _fail(message: str) -> int:
    print(f"radlens view --screenshot: {message}", file=sys.stderr)
    return 1


def take_screenshot(path: str | None, out: str, size: tuple[int, int], timeout_s: float = 180.0) -> int:
    """Run the screenshot mode; returns the exit code."""
    application()
    window = create_window(path, settings=Settings(persist=False))
    window.setProperty("quiet_errors", True)
    try:
        show_window(window, size)
        problem = open_and_explain(window, timeout_s)
        if problem:
            return _fail(problem)
        # A large image's map and boxes are drawn by background jobs: wait for their layers.
        def drawn(key: str) -> bool:
            return any(key in keys for keys in window.canvas.layer_keys().values())

        wait_until(lambda: drawn("explanation.heatmap"), 60)
        wait_until(lambda: drawn("explanation.boxes"), 10)  # none when the map has no positive pixel
        wait_until(lambda: False, 0.8)  # let docks, tables and the overlay render
        grab_png(window, Path(out))
        print(f"screenshot written to {out}", file=sys.stderr)
        return 0
    finally:
        window.close()
        window.shutdown()
