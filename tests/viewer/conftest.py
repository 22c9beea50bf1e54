"""Viewer fixtures: settings in a temporary file, the demo study copied to a temporary folder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


@pytest.fixture()
def settings_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "config" / "settings.json"
    monkeypatch.setenv("RADLENS_SETTINGS", str(path))
    return path


@pytest.fixture()
def demo_copy(tmp_path) -> Path:
    """A writable copy of the demo study: ``<tmp>/demo/images/*.dcm`` and ``<tmp>/demo/train.csv`` only."""
    from viewer_helpers import copy_demo

    return copy_demo(tmp_path / "demo")  # images + train.csv only, never a user's sidecar


@pytest.fixture()
def open_window(qtbot, settings_path, demo_copy):
    """A main window without plugins or model, showing the first demo image; closed afterwards."""
    from viewer.app import create_window

    threads_before = set(threading.enumerate())
    window = create_window(str(demo_copy), plugins=[], load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    qtbot.wait(50)
    # a test-only attribute on the app's window, read back by the tests' thread-leak checks
    window.threads_before = threads_before  # type: ignore[attr-defined]
    yield window
    window.close()
