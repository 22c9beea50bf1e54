"""The annotations dock: class of new boxes, and which classes / annotators are shown."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.annotation_layer import AnnotationLayer
from viewer.box_items import class_color


class AnnotationPanel(QtWidgets.QWidget):
    """Box class chooser (editable: type a new class) and per-class / per-annotator toggles."""

    visibility_changed = QtCore.Signal()

    def __init__(self, layer: AnnotationLayer, classes: Callable[[], tuple[str, ...]],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("annotations")
        self.layer = layer
        self.classes = classes
        self.box_class = QtWidgets.QComboBox(editable=True)
        self.box_class.setObjectName("box_class")
        self.box_class.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.InsertAtTop)
        editor = self.box_class.lineEdit()
        assert editor is not None  # an editable combo box has a line edit
        editor.editingFinished.connect(self._class_chosen)
        self.box_class.activated.connect(lambda _i: self._class_chosen())
        self.class_list = QtWidgets.QListWidget()
        self.annotator_list = QtWidgets.QListWidget()
        for lst in (self.class_list, self.annotator_list):
            lst.itemChanged.connect(self._toggled)
        self.count = QtWidgets.QLabel("")
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.addRow("New box class", self.box_class)
        form.addRow(QtWidgets.QLabel("Show classes"))
        form.addRow(self.class_list)
        form.addRow(QtWidgets.QLabel("Show annotators"))
        form.addRow(self.annotator_list)
        form.addRow(self.count)
        layer.state.subscribe("ground_truth", lambda _v: self.refresh())
        layer.state.subscribe("user_boxes", lambda _v: self.refresh())
        layer.canvas.model.listen(lambda name, value: self._follow(name, value))
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the lists from the known classes and the annotators of the open image."""
        classes = self.classes()
        current = self.layer.canvas.model.box_class or (classes[0] if classes else "")
        self.box_class.blockSignals(True)
        self.box_class.clear()
        self.box_class.addItems(list(classes))
        self.box_class.setCurrentText(current)
        self.box_class.blockSignals(False)
        if current and not self.layer.canvas.model.box_class:
            self.layer.canvas.model.set(box_class=current)
        vis = self.layer.visibility
        self._fill(self.class_list, classes, vis.hidden_classes, lambda c: class_color(c, classes))
        self._fill(self.annotator_list, self.layer.annotators(), vis.hidden_annotators, None)
        state = self.layer.state
        self.count.setText(f"{len(state.ground_truth.boxes)} ground-truth boxes, {len(state.user_boxes.boxes)} yours")

    def _fill(self, lst: QtWidgets.QListWidget, names: tuple[str, ...], hidden: set[str],
              color: Callable[[str], tuple[int, int, int]] | None) -> None:
        lst.blockSignals(True)
        lst.clear()
        for name in names:
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Unchecked if name in hidden else QtCore.Qt.CheckState.Checked)
            if color is not None:
                item.setForeground(QtGui.QBrush(QtGui.QColor(*color(name))))
            lst.addItem(item)
        lst.blockSignals(False)

    def _toggled(self, _item: QtWidgets.QListWidgetItem) -> None:
        vis = self.layer.visibility
        for lst, hidden in ((self.class_list, vis.hidden_classes), (self.annotator_list, vis.hidden_annotators)):
            hidden.clear()
            for i in range(lst.count()):
                if lst.item(i).checkState() != QtCore.Qt.CheckState.Checked:
                    hidden.add(lst.item(i).text())
        self.layer.schedule_redraw()
        self.visibility_changed.emit()

    def _class_chosen(self) -> None:
        name = self.box_class.currentText().strip()
        if name:
            self.layer.set_selected_class(name)

    def _follow(self, name: str, value: object) -> None:
        """Selecting a box shows its class in the chooser."""
        if name == "selected_box" and value:
            try:
                box = self.layer.state.user_boxes.get(str(value))
            except Exception:
                return
            self.box_class.blockSignals(True)
            self.box_class.setCurrentText(box.class_name)
            self.box_class.blockSignals(False)
