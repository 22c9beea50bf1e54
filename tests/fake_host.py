"""A fake viewer host around the real ViewerState: what the plugin API promises a plugin.

Shared by the plugin test folders (overlay, perturbation panel, report export); errors and status
messages are recorded instead of shown. Background work runs on the app's real job system
(:class:`viewer.worker.TaskRunner`), boxes for a plugin's own view come from the viewer's
:func:`viewer.box_items.box_items`, as :class:`viewer.plugin_host.PluginContext` gives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QGraphicsItem, QMainWindow

from plugins.api import CanvasLayers, StyledBox, ViewerHost
from viewer.box_items import box_items, class_color
from viewer.state import ViewerState
from viewer.worker import TaskRunner


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

    def __init__(self, window: QMainWindow | None, canvas: Any = None) -> None:
        self.state = ViewerState()
        self.canvas: CanvasLayers = canvas
        self.settings = FakeSettings()
        self.window = window
        self.errors: list[tuple[str, str]] = []
        self.statuses: list[str] = []
        self.runners: list[TaskRunner] = []

    def main_window(self) -> QMainWindow | None:
        return self.window

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statuses.append(message)

    def task_runner(self, parent: QObject | None = None) -> TaskRunner:
        runner = TaskRunner(parent)
        self.runners.append(runner)
        return runner

    def box_items(self, boxes: list[StyledBox], bounds: tuple[float, float], pixel_size: float) -> list[QGraphicsItem]:
        return list(box_items(boxes, bounds, pixel_size))

    def class_color(self, name: str) -> tuple[int, int, int]:
        model = self.state.model
        return class_color(name, tuple(model.class_names) if model is not None else ())

    def run_command(self, command_id: str) -> bool:
        raise NotImplementedError(f"the fake host runs no commands ({command_id!r})")

    def register_explainers(self) -> None:
        """Nothing to register: the tests register their explainers themselves."""


if TYPE_CHECKING:  # mypy checks that the fake keeps the promise the plugin API makes
    _host: type[ViewerHost] = FakeHost
