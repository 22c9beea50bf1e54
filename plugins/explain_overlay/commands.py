"""Entry points named by the manifest: the panel factory and the menu commands.

Each host (main window) has at most one explanation panel; commands find it through a per-host
registry and create it (hidden, parented to the main window) when the dock was never built.
"""

from __future__ import annotations

import weakref

import shiboken6
from PySide6.QtWidgets import QWidget

from plugins.api import ViewerHost
from plugins.explain_overlay.panel import ExplanationPanel

_BY_HOST: weakref.WeakKeyDictionary[ViewerHost, ExplanationPanel] = weakref.WeakKeyDictionary()
_BY_ID: dict[int, ExplanationPanel] = {}  # hosts that cannot be weakly referenced


def _lookup(host: ViewerHost) -> ExplanationPanel | None:
    try:
        panel = _BY_HOST.get(host)
    except TypeError:
        panel = _BY_ID.get(id(host))
    if panel is not None and shiboken6.isValid(panel) and panel.host is host:
        return panel
    return None


def _register(host: ViewerHost, panel: ExplanationPanel) -> None:
    try:
        _BY_HOST[host] = panel
    except TypeError:
        _BY_ID[id(host)] = panel


def create_panel(host: ViewerHost) -> ExplanationPanel:
    """The Panel factory: a new explanation panel for ``host``, registered for the commands."""
    panel = ExplanationPanel(host)
    _register(host, panel)
    return panel


def panel_for(host: ViewerHost, create: bool = True) -> ExplanationPanel | None:
    """The host's explanation panel; created hidden (parent: the main window) when missing."""
    panel = _lookup(host)
    if panel is None and create:
        parent = host.main_window()
        panel = ExplanationPanel(host, parent=parent if isinstance(parent, QWidget) else None)
        panel.hide()
        _register(host, panel)
    return panel


def run_explanation(host: ViewerHost) -> None:
    """``explanation.run``: explain the current image with the panel's model, method and layers.

    Completion is observable as ``host.state.explanation`` becoming non-None.
    """
    panel = panel_for(host)
    assert panel is not None
    panel.run()


def cancel_explanation(host: ViewerHost) -> None:
    """``explanation.cancel``: stop the running explanation, if any."""
    panel = panel_for(host, create=False)
    if panel is not None:
        panel.cancel()


def open_comparison(host: ViewerHost) -> None:
    """``explanation.compare``: the side-by-side comparison window."""
    panel = panel_for(host)
    assert panel is not None
    panel.open_comparison()
