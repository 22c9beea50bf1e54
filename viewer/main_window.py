"""The main window: canvas in the middle, study browser and annotations on the left, plugins' docks.

It wires the plain-Python parts (:class:`viewer.state.ViewerState`, :class:`viewer.session.Session`,
:class:`viewer.canvas_model.CanvasModel`, :class:`viewer.settings.Settings`) to the widgets, and
hosts the plugins (:class:`viewer.plugin_host.PluginHost`). Opening files is the
:class:`viewer.opening.OpeningController`'s. Long work runs on :class:`viewer.worker.TaskRunner`
(the one job system); closing saves the settings, stops every runner
(``viewer.worker.shutdown_all``) and leaves no thread behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import RadLensError
from engine.io import StudyImage
from plugins.api import LoadedPlugin
from viewer import worker
from viewer.actions import build_actions
from viewer.annotation_layer import AnnotationLayer
from viewer.annotation_panel import AnnotationPanel
from viewer.canvas import Canvas
from viewer.dialogs import help_dialog, plugins_dialog
from viewer.opening import OpeningController
from viewer.plugin_host import PluginHost
from viewer.session import Session
from viewer.settings import Settings
from viewer.state import ViewerState
from viewer.status_bar import StatusBar, unit_of
from viewer.study_browser import StudyBrowser
from viewer.tag_browser import TagBrowser
from viewer.toolbar import FrameSlider, PresetBox, build_toolbar

if TYPE_CHECKING:
    from engine.models.bundle import LoadedModel

log = logging.getLogger(__name__)

#: Dropped files with these suffixes are annotation files to import, not images to open.
ANNOTATION_SUFFIXES = (".csv", ".json")
MENUS = ("File", "Edit", "View", "Window", "Tools", "Navigate", "Help")


class MainWindow(QtWidgets.QMainWindow):
    """The RadLens viewer window.

    Args:
        settings: Loaded settings (saved on close).
        plugins: Discovered plugins; None discovers the installed ones.
        load_model: Load the settings' model (``"default"``) in the background at start.
    """

    def __init__(self, settings: Settings, plugins: list[LoadedPlugin] | None = None, load_model: bool = True) -> None:
        super().__init__()
        self.setObjectName("radlens_main_window")
        self.setWindowTitle("RadLens — research use, not for diagnostic use")
        self.settings = settings
        self.state = ViewerState()
        self.jobs = worker.TaskRunner(self)
        self.session = Session(self.state, on_error=lambda exc: self.show_error("Annotations", str(exc)))
        self.errors: list[tuple[str, str]] = []
        self._menus: dict[str, QtWidgets.QMenu] = {}
        self._front_before: dict[str, QtWidgets.QDockWidget | None] = {}
        self._unit = ""  # unit of the open image's modality values (cursor readout)
        for name in MENUS:
            self.menu(name)
        self.canvas = Canvas(self, self.state)
        self.setCentralWidget(self.canvas)
        self.layer = AnnotationLayer(self.state, self.canvas, self.known_classes)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.presets = PresetBox(self)
        self.frames = FrameSlider(self)
        self.frames.frame_changed.connect(self.show_frame)
        self.actions_by_id = build_actions(self)
        self.addToolBar(build_toolbar(self))
        self.browser = StudyBrowser(self.jobs)
        self.opening = OpeningController(self, self.state, self.session, self.settings, self.jobs, self.browser,
                                         self.canvas.corners, self.status, self)
        self.browser.image_chosen.connect(self.open_image)
        self.browser.scanned.connect(self.opening.on_scanned)
        self.annotations = AnnotationPanel(self.layer, self.known_classes)
        self.tags = TagBrowser()
        self.docks = {
            "study": self._dock("Study", "study", self.browser, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea),
            "annotations": self._dock("Annotations", "annotations", self.annotations,
                                      QtCore.Qt.DockWidgetArea.LeftDockWidgetArea),
            "tags": self._dock("DICOM tags", "tags", self.tags, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
        }
        self.docks["tags"].hide()
        self.docks["tags"].visibilityChanged.connect(self._tags_visible)
        self._wire()
        self._restore_settings()
        self.setAcceptDrops(True)
        self.host = PluginHost(self)
        if plugins is None:
            from plugins.discovery import discover

            plugins = discover()
        self.host.install(plugins)
        if settings["window_state"]:
            self.restoreState(QtCore.QByteArray.fromHex(settings["window_state"].encode()))
        else:
            self.arrange_docks()
        failed = self.host.failures()
        if failed:
            self.show_status(f"{len(failed)} plugin problem(s): see Help > Plugins", 15000)
        # The explanation panel loads (and lets the user choose) its own model; the core loads the
        # settings' model only when no plugin panel does, so that the app always opens with one.
        if load_model and self.state.model is None and not self._panel_loads_model():
            self.load_model(self.settings["model"])

    def arrange_docks(self) -> None:
        """Default layout (first start, screenshots): the image keeps the full height.

        The study browser and the annotations share the left column. Every plugin panel, whichever
        area it asked for, and the DICOM tag browser are tabs of one full-height right-hand column
        (the explanation in front): a bottom panel would take a quarter of the height from the image.
        Only without any right-hand panel do bottom panels stay at the bottom, as low as they allow.
        """
        area = QtCore.Qt.DockWidgetArea
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, area.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, area.RightDockWidgetArea)
        docks = [d for d in self.findChildren(QtWidgets.QDockWidget) if d.parent() is self]
        tags = self.docks["tags"]
        right = [d for d in docks if self.dockWidgetArea(d) == area.RightDockWidgetArea and not d.isHidden()
                 and d is not tags]
        bottom = [d for d in docks if self.dockWidgetArea(d) == area.BottomDockWidgetArea and not d.isHidden()]
        front = self.host.docks.get("explanation") if hasattr(self, "host") else None
        if front is None or front not in right:
            front = right[0] if right else None
        if front is not None:
            for dock in [*right, *bottom, tags]:
                if dock is not front:
                    self.tabifyDockWidget(front, dock)
            front.raise_()
            bottom = []
            self.resizeDocks([front], [max(400, self.width() // 4)], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["study"]], [300], QtCore.Qt.Orientation.Horizontal)
        if bottom:
            self.resizeDocks(bottom, [self.height() // 6] * len(bottom), QtCore.Qt.Orientation.Vertical)
        left = [self.docks["study"], self.docks["annotations"]]
        self.resizeDocks(left, [int(self.height() * 0.55), int(self.height() * 0.45)], QtCore.Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """Put every dock back where it starts (docked, its own area, shown or hidden as it is), then
        :meth:`arrange_docks`. The View menu's "Default panel layout"; also the screenshot mode."""
        area = QtCore.Qt.DockWidgetArea
        homes = [(self.docks["study"], area.LeftDockWidgetArea), (self.docks["annotations"], area.LeftDockWidgetArea),
                 (self.docks["tags"], area.RightDockWidgetArea)]
        homes += [(dock, self.host.panel_area(pid)) for pid, dock in self.host.docks.items()]
        for dock, where in homes:
            visible = not dock.isHidden()
            dock.setFloating(False)
            self.removeDockWidget(dock)
            self.addDockWidget(where, dock, QtCore.Qt.Orientation.Vertical)
            dock.setVisible(visible)
        self.arrange_docks()

    def _panel_loads_model(self) -> bool:
        dock = self.host.docks.get("explanation")
        return dock is not None and dock.widget() is not None and not dock.widget().property("radlens_failed")

    # --- construction helpers ------------------------------------------------------------------------
    def menu(self, name: str) -> QtWidgets.QMenu:
        """The menu called ``name`` (created on first use, before Help)."""
        if name not in self._menus:
            menu = QtWidgets.QMenu(name, self)
            menu.setObjectName(f"menu:{name}")
            help_menu = self._menus.get("Help")
            if help_menu is not None:
                self.menuBar().insertMenu(help_menu.menuAction(), menu)
            else:
                self.menuBar().addMenu(menu)
            self._menus[name] = menu
        return self._menus[name]

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget, area: Any) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock:{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if name != "tags":  # View > DICOM tags (Ctrl+T) shows it in front of its tab group
            self.panels_menu().addAction(dock.toggleViewAction())
        return dock

    def panels_menu(self) -> QtWidgets.QMenu:
        """View > Panels: show or hide each dock (the core's and the plugins')."""
        menu = getattr(self, "_panels_menu", None)
        if menu is None:
            view = self.menu("View")
            view.addSeparator()
            menu = self._panels_menu = view.addMenu("Panels")
            menu.setObjectName("menu:Panels")
        return menu

    def _wire(self) -> None:
        self.canvas.hovered.connect(self._on_hover)
        self.canvas.left.connect(lambda: self.status.cursor.setText(""))
        self.canvas.model.listen(self._on_canvas_model)
        self.state.subscribe("image", self._on_image)
        self.state.subscribe("model", self._on_model)
        for name in ("user_boxes",):
            self.state.subscribe(name, lambda _v: self._update_undo_actions())
        self._update_undo_actions()

    def _restore_settings(self) -> None:
        s = self.settings
        self.layer.visibility.hidden_classes = set(s["hidden_classes"])
        self.layer.visibility.hidden_annotators = set(s["hidden_annotators"])
        if s["box_class"]:
            self.canvas.model.set(box_class=s["box_class"])
        self.set_tool(s["tool"] if s["tool"] in ("pan", "box", "ruler") else "pan")
        if s["window_geometry"]:
            self.restoreGeometry(QtCore.QByteArray.fromHex(s["window_geometry"].encode()))
        else:
            self.resize(1500, 950)

    # --- state → widgets ---------------------------------------------------------------------------------
    @property
    def model_loading(self) -> bool:
        """Whether the start-up model is still loading."""
        return self.opening.model_loading

    def _on_image(self, image: StudyImage | None) -> None:
        same_file = image is not None and self.canvas.image is not None and image.path == self.canvas.image.path
        self.canvas.show_image(image, keep_view=same_file)
        self.presets.set_image(image)
        self.frames.set_image(image)
        self._unit = unit_of(image)  # read once per image: the cursor readout runs on every mouse move
        if self.docks["tags"].isVisible() and not same_file:
            self._tags_visible(True)

    def _tags_visible(self, visible: bool) -> None:
        if visible:
            path = self.state.image_path
            self.tags.show_file(Path(path) if path is not None else None)

    def _on_model(self, model: LoadedModel | None) -> None:
        self.status.set_model(model)
        self.annotations.refresh()

    def _on_canvas_model(self, name: str, value: Any) -> None:
        if name == "ruler":
            self.status.ruler.setText(self.canvas.ruler_label())
        elif name == "tool":
            action = self.actions_by_id.get(f"tool_{value}")
            if action is not None:
                action.setCheckable(True)
                action.setChecked(True)
        elif name == "box_class" and value:
            self.settings["box_class"] = str(value)

    def _on_hover(self, x: float, y: float) -> None:
        self.status.set_cursor(x, y, self.canvas.pixel_value(x, y), self._unit)

    def _update_undo_actions(self) -> None:
        undo, redo = self.actions_by_id["undo"], self.actions_by_id["redo"]
        undo.setEnabled(self.state.can_undo())
        redo.setEnabled(self.state.can_redo())
        undo.setText(f"Undo {self.state.undo_text()}".strip())
        redo.setText(f"Redo {self.state.redo_text()}".strip())

    def known_classes(self) -> tuple[str, ...]:
        """Classes for colours and the box tool: the model's (or default bundle's), then annotations'."""
        return self.opening.known_classes()

    # --- commands ---------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.canvas.model.set(tool=tool)
        self.settings["tool"] = tool
        self.canvas.setCursor(QtCore.Qt.CursorShape.CrossCursor if tool != "pan" else QtCore.Qt.CursorShape.ArrowCursor)

    def escape(self) -> None:
        self.canvas.model.set(ruler=None, selected_box=None)
        self.set_tool("pan")

    def apply_preset(self, n: int) -> None:
        """Window ``n`` of the file (1-based); 0 = the file's default window."""
        image = self.state.image
        if image is None or image.is_color:
            return
        if n == 0:
            self.canvas.set_window(image.window)
        elif n <= len(image.windows):
            self.canvas.set_window(image.windows[n - 1])

    def toggle_dock(self, name: str) -> None:
        """Show (in front of its tab group) or hide one of the core's docks."""
        dock = self.docks[name]
        if dock.isVisible() and not dock.visibleRegion().isEmpty():
            dock.hide()
            front = self._front_before.pop(name, None)
            if front is not None and front.isVisible():
                front.raise_()  # the tab that was in front before the dock was shown
        else:
            area = self.dockWidgetArea(dock)
            self._front_before[name] = next((d for d in self.findChildren(QtWidgets.QDockWidget)
                                             if d is not dock and d.isVisible() and self.dockWidgetArea(d) == area
                                             and not d.visibleRegion().isEmpty()), None)
            dock.show()
            dock.raise_()

    def show_help(self) -> QtWidgets.QDialog:
        dialog = help_dialog(self, self.host)
        dialog.show()
        return dialog

    def show_plugins(self) -> QtWidgets.QDialog:
        dialog = plugins_dialog(self, self.host)
        dialog.show()
        return dialog

    def show_about(self) -> QtWidgets.QDialog:
        from viewer.about import about_dialog

        dialog = about_dialog(self)
        dialog.show()
        return dialog

    # --- opening (see viewer/opening.py) -----------------------------------------------------------------------
    def open_path(self, path: str | Path) -> None:
        self.opening.open_path(Path(path))

    def open_image(self, path: str | Path, frame: int = 0) -> bool:
        return self.opening.open_image(Path(path), frame)

    def open_demo(self) -> None:
        self.opening.open_demo()

    def show_frame(self, frame: int) -> None:
        self.opening.show_frame(frame)

    def step_image(self, step: int) -> None:
        self.opening.step_image(step)

    def step_frame(self, step: int) -> None:
        if self.state.image is not None and self.state.image.n_frames > 1:
            frame = (self.state.image.frame_index + step) % self.state.image.n_frames
            self.frames.slider.setValue(frame)

    def open_file_dialog(self) -> None:
        self.opening.open_file_dialog()

    def open_folder_dialog(self) -> None:
        self.opening.open_folder_dialog()

    def import_annotations_dialog(self) -> None:
        self.opening.import_annotations_dialog()

    def export_boxes_dialog(self, kind: str) -> None:
        self.opening.export_boxes_dialog(kind)

    def load_model(self, spec: str | None) -> None:
        self.opening.load_model(spec)

    # --- messages ------------------------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """A non-blocking message box, the status bar and the log; never raises."""
        log.error("%s: %s", title, message)
        self.errors.append((title, message))
        self.status.showMessage(f"{title}: {message}", 15000)
        if QtWidgets.QApplication.instance() is None or self.property("quiet_errors"):
            return
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_box")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.status.showMessage(message, timeout_ms)

    # --- drag and drop ---------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        """Dropped images or a folder open (the first one); dropped CSV/JSON annotation files are
        imported as the ground truth of the open folder, after the image or folder dropped with them."""
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        annotations = [p for p in paths if p.is_file() and p.suffix.lower() in ANNOTATION_SUFFIXES]
        others = [p for p in paths if p not in annotations]
        if others:
            self.open_path(others[0])
        for path in annotations:
            try:
                self.opening.import_annotations(path)
            except RadLensError as exc:
                self.show_error("Import annotations", str(exc))
        event.acceptProposedAction()

    # --- closing -------------------------------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save settings, stop every job runner (the core's and the plugins') (idempotent)."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        s = self.settings
        s["window_geometry"] = bytes(self.saveGeometry().toHex().data()).decode()
        s["window_state"] = bytes(self.saveState().toHex().data()).decode()
        s["hidden_classes"] = sorted(self.layer.visibility.hidden_classes)
        s["hidden_annotators"] = sorted(self.layer.visibility.hidden_annotators)
        try:
            s.save()
        except OSError as exc:
            log.warning("settings not saved: %s", exc)
        try:
            worker.shutdown_all()  # every live runner: the core's (scans, thumbnails, model) and the plugins'
        except Exception:
            log.exception("stopping the job runners failed")
