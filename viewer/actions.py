"""Every menu command of the viewer core with its shortcut: one table for the menus and the F1 help.

Mouse: right drag = window/level (horizontal: width, vertical: level); left drag = the current
tool (pan, box, ruler); middle drag = pan; wheel = zoom around the cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6 import QtGui


@dataclass(frozen=True)
class ActionSpec:
    id: str
    menu: str
    text: str
    shortcut: str
    run: Callable[[Any], object]
    checkable: bool = False


def _preset(n: int) -> Callable[[Any], object]:
    return lambda w: w.apply_preset(n)


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_file", "File", "Open file…", "Ctrl+O", lambda w: w.open_file_dialog()),
    ActionSpec("open_folder", "File", "Open folder…", "Ctrl+Shift+O", lambda w: w.open_folder_dialog()),
    ActionSpec("open_demo", "File", "Open the demo study", "", lambda w: w.open_demo()),
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
    ActionSpec("rotate_cw", "View", "Rotate 90° clockwise", "]", lambda w: w.canvas.rotate(1)),
    ActionSpec("rotate_ccw", "View", "Rotate 90° counter-clockwise", "[", lambda w: w.canvas.rotate(-1)),
    ActionSpec("flip_h", "View", "Flip horizontally", "H", lambda w: w.canvas.flip(True)),
    ActionSpec("flip_v", "View", "Flip vertically", "V", lambda w: w.canvas.flip(False)),
    ActionSpec("reset", "View", "Reset view (window, orientation, zoom)", "R", lambda w: w.canvas.reset()),
    ActionSpec("invert", "Window", "Invert", "I", lambda w: w.canvas.model.set(invert=not w.canvas.model.invert)),
    ActionSpec("auto_window", "Window", "Auto window (data range)", "A", lambda w: w.canvas.auto_window()),
    ActionSpec("file_window", "Window", "File's window", "0", lambda w: w.apply_preset(0)),
    *(ActionSpec(f"preset_{n}", "Window", f"Preset {n}", str(n), _preset(n)) for n in range(1, 10)),
    ActionSpec("prev_image", "Navigate", "Previous image", "PgUp", lambda w: w.step_image(-1)),
    ActionSpec("next_image", "Navigate", "Next image", "PgDown", lambda w: w.step_image(1)),
    ActionSpec("prev_frame", "Navigate", "Previous frame", ",", lambda w: w.step_frame(-1)),
    ActionSpec("next_frame", "Navigate", "Next frame", ".", lambda w: w.step_frame(1)),
    ActionSpec("tags", "View", "DICOM tags", "Ctrl+T", lambda w: w.toggle_dock("tags")),
    ActionSpec("help", "Help", "Keyboard shortcuts…", "F1", lambda w: w.show_help()),
    ActionSpec("plugins", "Help", "Plugins…", "", lambda w: w.show_plugins()),
)

MOUSE_HELP = (
    ("Right drag", "Window/level: left-right changes the width, up-down the level"),
    ("Left drag", "Current tool: pan (P), draw a box (B) or measure (M)"),
    ("Middle drag", "Pan"),
    ("Wheel", "Zoom around the cursor"),
    ("Click a box of yours", "Select it (drag its body to move, its corners to resize, Del deletes)"),
    ("Drop files or a folder", "Open them"),
)


def build_actions(window: Any) -> dict[str, QtGui.QAction]:
    """Create the actions in ``window``'s menus (``window.menu(name)``); returns them by id."""
    actions = {}
    for spec in ACTIONS:
        action = QtGui.QAction(spec.text, window)
        action.setObjectName(f"action:{spec.id}")
        if spec.shortcut:
            action.setShortcut(QtGui.QKeySequence(spec.shortcut))
        action.triggered.connect(lambda _checked=False, s=spec: s.run(window))
        window.menu(spec.menu).addAction(action)
        actions[spec.id] = action
    return actions
