"""The plugin host: puts discovered plugins' contributions into the main window, lazily.

The viewer owns the host; plugins see only :class:`plugins.api.ViewerHost`, which
:class:`PluginContext` implements (one per plugin).

* **Panels** become dock widgets. A panel marked ``visible`` is created when the host installs it
  (at start-up); a hidden one when it is first shown (View > Panels or its shortcut). Its widget
  gets ``objectName`` = the panel id (set by the host if the factory did not).
* **Commands** become menu actions (menu and shortcut from the manifest). Their callback is
  imported on first trigger. :meth:`PluginHost.run_command` runs one by id (screenshot mode, tests).
* **Readers** join the viewer's file readers (by suffix); their loader is imported on first use.
* **Exporters** become ``File > Export`` entries; the writer is imported on first use.
* **Explainers** are registered on :meth:`PluginHost.register_explainers` (before a method list is
  built or an explanation runs).

A failure (manifest import, factory or callback raising) is logged, recorded on the plugin's
:class:`plugins.api.LoadedPlugin` (shown in Help > Plugins), reported with ``show_error`` when the
user triggered it, and never stops the app.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from plugins.api import (
    CanvasLayers,
    Command,
    Contribution,
    Explainer,
    Exporter,
    FileHost,
    HostState,
    JobRunner,
    LoadedPlugin,
    Panel,
    PluginError,
    Reader,
    StyledBox,
    ViewerHost,
    resolve,
)
from viewer.box_items import box_items, class_color
from viewer.canvas import Canvas
from viewer.settings import Settings
from viewer.state import ViewerState
from viewer.worker import TaskRunner

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

log = logging.getLogger(__name__)

AREAS = {
    "left": QtCore.Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": QtCore.Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": QtCore.Qt.DockWidgetArea.BottomDockWidgetArea,
}


class PluginSettings:
    """One plugin's namespace in the settings file; changes are saved atomically (coalesced, see ``set``)."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._settings = settings
        self._name = name

    def get(self, key: str, default: Any = None) -> Any:
        return self._settings.plugin(self._name).get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value``; the file is rewritten only when something changed, at most every 300 ms
        (a slider drag would otherwise write and fsync it on every step; closing the app saves too)."""
        values = self._settings.plugin(self._name)
        if key in values and values[key] == value:
            return
        values[key] = value
        _schedule_save(self._settings)


_PENDING: set[int] = set()


def _schedule_save(settings: Settings) -> None:
    """Save ``settings`` once, 300 ms from the first unsaved change (immediately without a Qt app)."""
    from PySide6.QtCore import QCoreApplication, QTimer

    if QCoreApplication.instance() is None:
        _save_now(settings)
        return
    if id(settings) in _PENDING:
        return
    _PENDING.add(id(settings))

    def flush() -> None:
        _PENDING.discard(id(settings))
        _save_now(settings)

    QTimer.singleShot(300, flush)


def _save_now(settings: Settings) -> None:
    try:
        settings.save()
    except OSError as exc:
        log.warning("could not save plugin settings: %s", exc)


class PluginContext:
    """What one plugin's callables receive (implements :class:`plugins.api.ViewerHost`)."""

    def __init__(self, host: PluginHost, name: str) -> None:
        self._host = host
        self.name = name
        self._state: ViewerState = host.window.state
        self._canvas: Canvas = host.window.canvas
        self._settings = PluginSettings(host.window.settings, name)

    @property
    def state(self) -> ViewerState:
        return self._state

    @property
    def canvas(self) -> Canvas:
        return self._canvas

    @property
    def settings(self) -> PluginSettings:
        return self._settings

    def main_window(self) -> QtWidgets.QMainWindow:
        return self._host.window

    def show_error(self, title: str, message: str) -> None:
        self._host.window.show_error(title, message)

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self._host.window.show_status(message, timeout_ms)

    def task_runner(self, parent: QtCore.QObject | None = None) -> TaskRunner:
        return TaskRunner(parent)

    def box_items(self, boxes: list[StyledBox], bounds: tuple[float, float],
                  pixel_size: float) -> list[QtWidgets.QGraphicsItem]:
        return list(box_items(boxes, bounds, pixel_size))

    def class_color(self, name: str) -> tuple[int, int, int]:
        return class_color(name, self._host.window.known_classes())

    def run_command(self, command_id: str) -> bool:
        return self._host.run_command(command_id)

    def register_explainers(self) -> None:
        self._host.register_explainers()

    # --- plugins.api.FileHost ---------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        self._host.window.open_path(path)

    def show_folder(self, folder: Path) -> None:
        window = self._host.window
        window.opening.pending_open = False  # keep the image shown; the scan only lists the folder
        window.browser.scan(Path(folder))

    def send_files_to_pacs(self, paths: list[Path]) -> bool:
        return self._host.run_command("pacs.send_files", [Path(p) for p in paths])


class PluginHost(QtCore.QObject):
    """Installs plugins into ``window`` (the :class:`viewer.main_window.MainWindow`)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.plugins: list[LoadedPlugin] = []
        self.contexts: dict[str, PluginContext] = {}
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        self.commands: dict[str, tuple[LoadedPlugin, Command, QtGui.QAction]] = {}
        self._panels: dict[str, tuple[LoadedPlugin, Panel]] = {}
        self._resolved: dict[str, Callable[..., Any]] = {}
        self._explainers: list[tuple[LoadedPlugin, Explainer]] = []
        self._explainers_done = False

    # --- installing ----------------------------------------------------------------------------------
    def install(self, plugins: list[LoadedPlugin]) -> None:
        """Install every plugin that loaded; failed ones are only listed."""
        self.plugins = list(plugins)
        for plugin in self.plugins:
            if not plugin.ok:
                continue
            assert plugin.manifest is not None
            self.contexts[plugin.manifest.name] = PluginContext(self, plugin.manifest.name)
            for c in plugin.manifest.contributions:
                try:
                    self._install_one(plugin, c)
                except Exception as exc:  # a bad contribution must not stop the others
                    self._fail(plugin, c.id, exc)

    def _install_one(self, plugin: LoadedPlugin, c: Contribution) -> None:
        if isinstance(c, Panel):
            self._install_panel(plugin, c)
        elif isinstance(c, Command):
            if c.id in self.commands:
                raise PluginError(f"command id {c.id!r} is already used by another plugin")
            action = QtGui.QAction(c.title, self.window)
            action.setObjectName(f"command:{c.id}")
            self._bind_shortcut(plugin, c.id, action, c.shortcut)
            action.triggered.connect(lambda _checked=False, cid=c.id: self.run_command(cid))
            self.window.menu(c.menu).addAction(action)
            self.commands[c.id] = (plugin, c, action)
        elif isinstance(c, Reader):
            for suffix in c.suffixes:
                self.window.session.readers[suffix.lower()] = self._lazy_reader(plugin, c)
        elif isinstance(c, Exporter):
            action = QtGui.QAction(c.title, self.window)
            action.triggered.connect(lambda _checked=False, e=c, p=plugin: self._export_dialog(p, e))
            self.window.menu("File").addAction(action)
        elif isinstance(c, Explainer):
            self._explainers.append((plugin, c))

    def _bind_shortcut(self, plugin: LoadedPlugin, cid: str, action: QtGui.QAction, shortcut: str | None) -> None:
        if not shortcut:
            return
        seq = QtGui.QKeySequence(shortcut)
        taken = [a for a in self.window.findChildren(QtGui.QAction) if a is not action and a.shortcut() == seq]
        if taken:
            plugin.contribution_errors[cid] = f"shortcut {shortcut} is already used by {taken[0].text()!r}; not bound"
            log.warning("plugin %s: %s", plugin.entry_point, plugin.contribution_errors[cid])
            return
        action.setShortcut(seq)

    def _install_panel(self, plugin: LoadedPlugin, panel: Panel) -> None:
        dock = QtWidgets.QDockWidget(panel.title, self.window)
        dock.setObjectName(f"dock:{panel.id}")
        self.docks[panel.id] = dock
        self._panels[panel.id] = (plugin, panel)
        self.window.addDockWidget(AREAS.get(panel.area, AREAS["right"]), dock)
        toggle = dock.toggleViewAction()
        self._bind_shortcut(plugin, panel.id, toggle, panel.shortcut)
        panels = getattr(self.window, "panels_menu", None)
        (panels() if callable(panels) else self.window.menu("View")).addAction(toggle)
        dock.visibilityChanged.connect(lambda visible, pid=panel.id: visible and self.panel_widget(pid))
        if panel.visible:
            self.panel_widget(panel.id)
        else:
            dock.hide()

    def panel_area(self, panel_id: str) -> QtCore.Qt.DockWidgetArea:
        """The dock area panel ``panel_id`` asked for in its manifest."""
        return AREAS.get(self._panels[panel_id][1].area, AREAS["right"])

    # --- first use ------------------------------------------------------------------------------------
    def context(self, plugin: LoadedPlugin) -> PluginContext:
        assert plugin.manifest is not None
        return self.contexts[plugin.manifest.name]

    def _resolve(self, plugin: LoadedPlugin, cid: str, reference: str) -> Callable[..., Any]:
        if reference not in self._resolved:
            obj = resolve(reference)
            if not callable(obj):
                raise PluginError(f"{reference!r} of {plugin.entry_point} is not callable")
            self._resolved[reference] = obj
        return self._resolved[reference]

    def _fail(self, plugin: LoadedPlugin, cid: str, exc: BaseException) -> str:
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluginError) else str(exc)
        plugin.contribution_errors[cid] = message
        log.error("plugin %s, %s: %s\n%s", plugin.entry_point, cid, message, traceback.format_exc())
        return message

    def panel_widget(self, panel_id: str) -> QtWidgets.QWidget | None:
        """The panel's widget, created on first call; None if its factory failed."""
        dock = self.docks[panel_id]
        widget = dock.widget()
        if widget is not None:
            return None if widget.property("radlens_failed") else widget
        plugin, panel = self._panels[panel_id]
        try:
            widget = self._resolve(plugin, panel.id, panel.factory)(self.context(plugin))
            if not isinstance(widget, QtWidgets.QWidget):
                raise PluginError(f"{panel.factory!r} returned {type(widget).__name__}, not a QWidget")
        except Exception as exc:
            message = self._fail(plugin, panel.id, exc)
            failed = QtWidgets.QLabel(f"The panel “{panel.title}” could not be created:\n{message}")
            failed.setWordWrap(True)
            failed.setProperty("radlens_failed", True)
            dock.setWidget(failed)
            self.window.show_status(f"Plugin panel {panel.title} failed; see Help > Plugins", 10000)
            return None
        if not widget.objectName():
            widget.setObjectName(panel.id)
        dock.setWidget(widget)
        return widget

    def run_command(self, command_id: str, *args: Any) -> bool:
        """Run a plugin command by id (``args`` follow the host); False (and an error shown) when it fails.

        Raises:
            PluginError: No loaded plugin contributes ``command_id``.
        """
        if command_id not in self.commands:
            raise PluginError(f"No loaded plugin provides the command {command_id!r}.", fix=self.failure_hint())
        plugin, command, _action = self.commands[command_id]
        try:
            self.register_explainers()
            self._resolve(plugin, command.id, command.callback)(self.context(plugin), *args)
        except Exception as exc:
            message = self._fail(plugin, command.id, exc)
            self.window.show_error(f"{command.title} failed", message)
            return False
        return True

    def _lazy_reader(self, plugin: LoadedPlugin, reader: Reader) -> Callable[[Path], Any]:
        def load(path: Path) -> Any:
            return self._resolve(plugin, reader.id, reader.loader)(path)

        return load

    def run_exporter(self, exporter_id: str, path: Path) -> None:
        """Run an exporter's writer (raises what it raises)."""
        for plugin in self.plugins:
            for c in plugin.manifest.of_type(Exporter) if plugin.ok and plugin.manifest else ():
                if c.id == exporter_id:
                    self._resolve(plugin, c.id, c.writer)(self.context(plugin), Path(path))
                    return
        raise PluginError(f"No loaded plugin provides the exporter {exporter_id!r}.")

    def _export_dialog(self, plugin: LoadedPlugin, exporter: Exporter) -> None:
        filters = ";;".join(f"{exporter.title} (*{s})" for s in exporter.suffixes)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, exporter.title, "", filters)
        if not path:
            return
        try:
            self.run_exporter(exporter.id, Path(path))
        except Exception as exc:
            self.window.show_error(f"{exporter.title} failed", self._fail(plugin, exporter.id, exc))

    def register_explainers(self) -> None:
        """Register every plugin explainer in the engine's registry (once)."""
        if self._explainers_done:
            return
        self._explainers_done = True
        for plugin, explainer in self._explainers:
            try:
                self._resolve(plugin, explainer.id, explainer.register)()
            except Exception as exc:
                self._fail(plugin, explainer.id, exc)

    # --- reporting -----------------------------------------------------------------------------------------
    def failures(self) -> list[tuple[str, str]]:
        """``(plugin, error)`` for every plugin or contribution that failed."""
        out = [(p.entry_point, p.error) for p in self.plugins if p.error]
        out += [(f"{p.entry_point} [{cid}]", err) for p in self.plugins for cid, err in p.contribution_errors.items()]
        return out

    def failure_hint(self) -> str:
        failed = "; ".join(f"{name}: {err}" for name, err in self.failures())
        return f"See Help > Plugins. {failed}" if failed else "Install the plugin that provides it."


if TYPE_CHECKING:  # mypy checks here that the viewer implements the plugin API's protocols
    _host: type[ViewerHost] = PluginContext
    _files: type[FileHost] = PluginContext
    _state: type[HostState] = ViewerState
    _jobs: type[JobRunner] = TaskRunner
    _canvas: type[CanvasLayers] = Canvas
