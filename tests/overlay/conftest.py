"""Fixtures for the explanation-overlay tests (helpers live in overlay_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest
from overlay_helpers import FakeHost, open_demo, task_threads
from PySide6.QtWidgets import QMainWindow


@pytest.fixture(scope="session")
def default_model() -> Any:
    from engine import load_model

    return load_model("default")


@pytest.fixture()
def host(qtbot) -> FakeHost:
    window = QMainWindow()
    qtbot.addWidget(window)
    return FakeHost(window)


@pytest.fixture()
def make_panel(qtbot, host):
    """Build panels on ``host``; every one is shut down after the test and no thread may remain."""
    from plugins.explain_overlay.commands import create_panel

    panels: list[Any] = []

    def make(h: FakeHost | None = None) -> Any:
        panel = create_panel(h or host)
        qtbot.addWidget(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.runner.shutdown(5000)
    assert task_threads() == []


@pytest.fixture()
def ready(qtbot, host, default_model, make_panel):
    """A panel on phantom_00002 (ground truth for four classes) with the default model set."""
    host.state.update(model=default_model)
    open_demo(host, "phantom_00002")
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.method_chooser.layers.count() > 0, timeout=10000)
    return panel
