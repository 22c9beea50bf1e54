"""Every menu command of the viewer core with its shortcut: one table for the menus and the F1 help.

Mouse: right drag = window/level (horizontal: width, vertical: level); left drag = the current
tool (pan, box, ruler); middle drag = pan; wheel = zoom around the cursor. The arrow keys (move the
image) and Shift+arrows (window/level) act while the image has the keyboard focus, so that they
keep moving through lists and tables elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui


@dataclass(frozen=True)
class ActionSpec:
    id: str
    menu: str
    text: str
    shortcut: str
    run: Callable[[Any], object]
    checkable: bool = False
    on_image: bool = False  # the shortcut works while the image has the keyboard focus (click it)


KEY_STEP = 10.0  # a window key press moves the window as a 10-pixel right drag does


def _open_study(window: Any) -> None:
    from viewer.study_gallery import open_study_dialog  # the gallery loads on first use

    open_study_dialog(window)


def _run_study(window: Any) -> None:
    from viewer.study_run_dialog import run_study_dialog  # loads on first use

    run_study_dialog(window)


def _preset(n: int) -> Callable[[Any], object]:
    return lambda w: w.apply_preset(n)


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_file", "File", "Open file…", "Ctrl+O", lambda w: w.open_file_dialog()),
    ActionSpec("open_folder", "File", "Open folder…", "Ctrl+Shift+O", lambda w: w.open_folder_dialog()),
    ActionSpec("open_demo", "File", "Open the demo study", "", lambda w: w.open_demo()),
    ActionSpec("open_study", "File", "Open study… (review gallery of a radlens study OUT folder)", "",
               lambda w: _open_study(w)),
    ActionSpec("run_study", "File", "Run study… (a radlens study preset or YAML on a data folder)", "",
               lambda w: _run_study(w)),
    ActionSpec("import_ann", "File", "Import annotations (VinBigData/NIH/SIIM CSV, sidecar)…", "Ctrl+I",
               lambda w: w.import_annotations_dialog()),
    ActionSpec("export_csv", "File", "Export my boxes as VinBigData CSV…", "", lambda w: w.export_boxes_dialog("csv")),
    ActionSpec("export_json", "File", "Export my boxes as sidecar JSON…", "", lambda w: w.export_boxes_dialog("json")),
    ActionSpec("quit", "File", "Quit", "Ctrl+Q", lambda w: w.close()),
    ActionSpec("undo", "Edit", "Undo", "Ctrl+Z", lambda w: w.state.undo()),
    ActionSpec("redo", "Edit", "Redo", "Ctrl+Shift+Z", lambda w: w.state.redo()),
    ActionSpec("delete_box", "Edit", "Delete selected box", "Del", lambda w: w.layer.delete_selected()),
    ActionSpec("tool_pan", "Tools", "Pan tool (left drag pans)", "P", lambda w: w.set_tool("pan")),
    ActionSpec("tool_box", "Tools", "Box tool (left drag draws a box)", "B", lambda w: w.set_tool("box")),
    ActionSpec("tool_ruler", "Tools", "Ruler (left drag measures)", "M", lambda w: w.set_tool("ruler")),
    ActionSpec("escape", "Tools", "Pan tool, clear ruler", "Esc", lambda w: w.escape()),
    ActionSpec("fit", "View", "Zoom to fit", "F", lambda w: w.canvas.fit()),
    ActionSpec("one_to_one", "View", "Zoom 1:1 (one image pixel per screen pixel)", "Ctrl+1",
               lambda w: w.canvas.one_to_one()),
    ActionSpec("zoom_in", "View", "Zoom in", "=", lambda w: w.canvas.zoom(1.25)),
    ActionSpec("zoom_out", "View", "Zoom out", "-", lambda w: w.canvas.zoom(0.8)),
    ActionSpec("pan_left", "View", "Move the image left", "Left", lambda w: w.canvas.pan(-0.1, 0), on_image=True),
    ActionSpec("pan_right", "View", "Move the image right", "Right", lambda w: w.canvas.pan(0.1, 0), on_image=True),
    ActionSpec("pan_up", "View", "Move the image up", "Up", lambda w: w.canvas.pan(0, -0.1), on_image=True),
    ActionSpec("pan_down", "View", "Move the image down", "Down", lambda w: w.canvas.pan(0, 0.1), on_image=True),
    ActionSpec("rotate_cw", "View", "Rotate 90° clockwise", "]", lambda w: w.canvas.rotate(1)),
    ActionSpec("rotate_ccw", "View", "Rotate 90° counter-clockwise", "[", lambda w: w.canvas.rotate(-1)),
    ActionSpec("flip_h", "View", "Flip horizontally", "H", lambda w: w.canvas.flip(True)),
    ActionSpec("flip_v", "View", "Flip vertically", "V", lambda w: w.canvas.flip(False)),
    ActionSpec("reset", "View", "Reset view (window, orientation, zoom)", "R", lambda w: w.canvas.reset()),
    ActionSpec("invert", "Window", "Invert", "I", lambda w: w.canvas.model.set(invert=not w.canvas.model.invert)),
    ActionSpec("auto_window", "Window", "Auto window (data range)", "A", lambda w: w.canvas.auto_window()),
    ActionSpec("window_narrower", "Window", "Narrower window (more contrast)", "Shift+Left",
               lambda w: w.canvas.nudge_window(-KEY_STEP, 0), on_image=True),
    ActionSpec("window_wider", "Window", "Wider window (less contrast)", "Shift+Right",
               lambda w: w.canvas.nudge_window(KEY_STEP, 0), on_image=True),
    ActionSpec("level_down", "Window", "Lower level (brighter image)", "Shift+Up",
               lambda w: w.canvas.nudge_window(0, -KEY_STEP), on_image=True),
    ActionSpec("level_up", "Window", "Higher level (darker image)", "Shift+Down",
               lambda w: w.canvas.nudge_window(0, KEY_STEP), on_image=True),
    ActionSpec("file_window", "Window", "File's window", "0", lambda w: w.apply_preset(0)),
    *(ActionSpec(f"preset_{n}", "Window", f"Preset {n}", str(n), _preset(n)) for n in range(1, 10)),
    ActionSpec("prev_image", "Navigate", "Previous image", "PgUp", lambda w: w.step_image(-1)),
    ActionSpec("next_image", "Navigate", "Next image", "PgDown", lambda w: w.step_image(1)),
    ActionSpec("prev_frame", "Navigate", "Previous frame", ",", lambda w: w.step_frame(-1)),
    ActionSpec("next_frame", "Navigate", "Next frame", ".", lambda w: w.step_frame(1)),
    ActionSpec("tags", "View", "DICOM tags", "Ctrl+T", lambda w: w.toggle_dock("tags")),
    ActionSpec("reset_layout", "View", "Default panel layout", "", lambda w: w.reset_layout()),
    ActionSpec("help", "Help", "Keyboard shortcuts…", "F1", lambda w: w.show_help()),
    ActionSpec("plugins", "Help", "Plugins…", "", lambda w: w.show_plugins()),
    ActionSpec("about", "Help", "About RadLens…", "", lambda w: w.show_about()),
)

MOUSE_HELP = (
    ("Right drag", "Window/level: left-right changes the width, up-down the level"),
    ("Left drag", "Current tool: pan (P), draw a box (B) or measure (M)"),
    ("Middle drag", "Pan"),
    ("Wheel", "Zoom around the cursor"),
    ("Click a box of yours", "Select it (drag its body to move, its corners to resize, Del deletes)"),
    ("Drop files or a folder", "Open them; a dropped annotation CSV/JSON is imported as ground truth"),
)


def build_actions(window: Any) -> dict[str, QtGui.QAction]:
    """Create the actions in ``window``'s menus (``window.menu(name)``); returns them by id."""
    actions = {}
    for spec in ACTIONS:
        action = QtGui.QAction(spec.text, window)
        action.setObjectName(f"action:{spec.id}")
        if spec.shortcut:
            action.setShortcut(QtGui.QKeySequence(spec.shortcut))
        if spec.on_image:
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
            window.canvas.addAction(action)
        action.triggered.connect(lambda _checked=False, s=spec: s.run(window))
        window.menu(spec.menu).addAction(action)
        actions[spec.id] = action
    return actions
