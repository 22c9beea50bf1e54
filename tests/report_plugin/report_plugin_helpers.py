"""A fake viewer host around the real ViewerState, for the report-export plugin tests."""

from __future__ import annotations

from typing import Any

from viewer.state import ViewerState


class FakeSettings:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class FakeHost:
    """What the plugin API promises a plugin; errors and status messages are recorded."""

    def __init__(self, window: Any) -> None:
        self.state = ViewerState()
        self.canvas = None
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
