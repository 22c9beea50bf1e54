"""A fake viewer host around the real ViewerState: what the plugin API promises a plugin.

Shared by the plugin test folders (overlay, perturbation panel, report export); errors and status
messages are recorded instead of shown.
"""

from __future__ import annotations

from typing import Any

from viewer.state import ViewerState


class FakeSettings:
    """The host's settings store, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class FakeHost:
    """A host with a real :class:`ViewerState`, a canvas of the test's choice and recorded messages."""

    def __init__(self, window: Any, canvas: Any = None) -> None:
        self.state = ViewerState()
        self.canvas = canvas
        self.settings = FakeSettings()
        self.window = window
        self.errors: list[tuple[str, str]] = []
        self.statuses: list[str] = []

    def main_window(self) -> Any:
        return self.window

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statuses.append(message)
