"""The main toolbar: tools, window presets, orientation, and the frame slider."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from engine.io import StudyImage


class FrameSlider(QtWidgets.QWidget):
    """Frame of a multi-frame image; hidden for single-frame files."""

    frame_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName("frame_slider")
        self.slider.setMinimumWidth(160)
        self.label = QtWidgets.QLabel("")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(QtWidgets.QLabel("Frame"))
        layout.addWidget(self.slider)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._changed)

    def set_image(self, image: StudyImage | None) -> None:
        n = image.n_frames if image is not None else 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        self.slider.setValue(image.frame_index if image is not None else 0)
        self.slider.blockSignals(False)
        self.label.setText(f"{self.slider.value() + 1}/{n}")
        action = getattr(self, "action", None)
        if action is not None:
            action.setVisible(n > 1)
        else:
            self.setVisible(n > 1)

    def _changed(self, value: int) -> None:
        self.label.setText(f"{value + 1}/{self.slider.maximum() + 1}")
        self.frame_changed.emit(value)


class PresetBox(QtWidgets.QComboBox):
    """The file's named windows (StudyImage.windows), plus auto."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.setObjectName("window_presets")
        self.setMinimumWidth(200)
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)  # names never cut
        self.setToolTip("Window presets from the file (keys 1-9), auto (A), the file's window (0)")
        self._window = window
        self.activated.connect(self._chosen)

    def set_image(self, image: StudyImage | None) -> None:
        self.blockSignals(True)
        self.clear()
        if image is not None and not image.is_color:
            for n, w in enumerate(image.windows, start=1):
                self.addItem(f"{n}: {w.label()}")
            self.addItem("Auto (data range)")
        self.blockSignals(False)

    def _chosen(self, index: int) -> None:
        if index == self.count() - 1:
            self._window.canvas.auto_window()
        else:
            self._window.apply_preset(index + 1)


def build_toolbar(window: Any) -> QtWidgets.QToolBar:
    """Toolbar of the main window, from its actions (``window.actions_by_id``)."""
    bar = QtWidgets.QToolBar("Tools", window)
    bar.setObjectName("main_toolbar")
    bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
    acts = window.actions_by_id
    labels = {"open_folder": "Open", "tool_pan": "Pan", "tool_box": "Box", "tool_ruler": "Ruler",
              "invert": "Invert", "auto_window": "Auto W/L", "fit": "Fit", "one_to_one": "1:1",
              "rotate_cw": "Rotate", "flip_h": "Flip H", "flip_v": "Flip V", "reset": "Reset",
              "undo": "Undo", "redo": "Redo"}
    group = QtWidgets.QButtonGroup(bar)

    def add_buttons(keys: tuple[str | None, ...]) -> None:
        """One tool button per action key; None is a separator; ``tool_*`` keys are exclusive."""
        for key in keys:
            if key is None:
                bar.addSeparator()
                continue
            acts[key].setIconText(labels[key])
            button = QtWidgets.QToolButton()
            button.setDefaultAction(acts[key])
            button.setObjectName(f"button:{key}")
            if key.startswith("tool_"):
                acts[key].setCheckable(True)
                group.addButton(button)
            bar.addWidget(button)

    add_buttons(("open_folder", None, "tool_pan", "tool_box", "tool_ruler", None, "undo", "redo", None))
    bar.addWidget(window.presets)
    add_buttons(("auto_window", "invert", None, "fit", "one_to_one", "rotate_cw", "flip_h", "flip_v", "reset"))
    frames_action = bar.addWidget(window.frames)
    window.frames.action = frames_action  # hiding a toolbar widget needs its action hidden
    frames_action.setVisible(False)
    return bar
