"""File › Run study…: the dialog runs a 3-image phantom study (``--workers 0``) as a job of the app's
TaskRunner with its progress; Cancel keeps what is scored and says how to resume; the end opens the
review gallery."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtWidgets

from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset
from viewer.worker import TaskRunner

STUDY = """
name: dialog-test
models: ["{model}"]
methods:
  - name: gradcam
thresholds:
  top_fraction: [0.1]
  fraction_of_max: []
  otsu: false
run:
  batch_size: 1
"""


class Window(QtWidgets.QMainWindow):
    """What the dialog and the gallery use of the main window: its job runner, status and errors."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = TaskRunner(self)
        self.statuses: list[str] = []
        self.errors: list[tuple[str, str]] = []

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statuses.append(message)

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))


@pytest.fixture(scope="module")
def three_phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("three")
    generate_dataset(out, 3, 3, PhantomConfig(size=128), fmt="png")
    return out


@pytest.fixture()
def window(qtbot):
    w = Window()
    qtbot.addWidget(w)
    yield w
    w.jobs.shutdown(20000)


def _request(dialog, yaml_path: Path, data: Path, out: Path, *, resume: bool = False):
    from viewer.study_run_dialog import YAML_ITEM

    dialog.study_combo.setCurrentIndex(dialog.study_combo.findText(YAML_ITEM))
    dialog.yaml_edit.setText(str(yaml_path))
    dialog.data_edit.setText(str(data))
    dialog.out_edit.setText(str(out))
    dialog.workers_spin.setValue(0)
    dialog.resume_box.setChecked(resume)
    assert dialog.problems() == []
    return dialog.request()


def test_menu_table_has_run_study() -> None:
    from viewer.actions import ACTIONS

    spec = next(a for a in ACTIONS if a.id == "run_study")
    assert spec.menu == "File" and spec.text.startswith("Run study…")


def test_dialog_lists_presets_and_names_what_is_missing(qtbot, tmp_path: Path) -> None:
    from viewer.study_run_dialog import RunStudyDialog

    dialog = RunStudyDialog()
    qtbot.addWidget(dialog)
    assert dialog.study_combo.findText("preset:localisation") >= 0
    assert dialog.study_combo.findText("preset:evaluate") >= 0
    dialog.data_edit.setText(str(tmp_path / "missing"))
    assert dialog.problems() == ["choose an existing data folder", "choose an output folder"]
    dialog._accept()
    assert "Cannot run: choose an existing data folder" in dialog.error.text()


def test_run_shows_progress_then_cancel_is_resumable_and_the_end_opens_the_gallery(
    qtbot, window: Window, three_phantoms: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    import json

    from viewer.study_gallery import OBJECT_NAME, StudyGallery
    from viewer.study_run_dialog import RunStudyDialog, run_study_in_viewer

    yaml_path = tmp_path / "study.yaml"
    yaml_path.write_text(STUDY.format(model=tiny_bundle))
    out = tmp_path / "out"
    dialog = RunStudyDialog(window)
    qtbot.addWidget(dialog)

    # 1. cancelled at once: the run stops after the image in flight and says how to resume
    panel = run_study_in_viewer(window, _request(dialog, yaml_path, three_phantoms, out))
    panel.cancel()
    qtbot.waitUntil(lambda: panel.finished, timeout=60000)
    assert "Cancelled" in panel.label.text() and "resumable" in panel.label.text()
    assert "--resume" in panel.label.text() and "--workers 0" in panel.label.text()
    assert json.loads((out / "study.json").read_text())["status"] == "interrupted"
    assert window.findChild(QtWidgets.QWidget, OBJECT_NAME) is None  # no gallery for a cancelled run

    # 2. resumed: the rest is scored with its progress in the job system, then the gallery opens
    panel = run_study_in_viewer(window, _request(dialog, yaml_path, three_phantoms, out, resume=True))
    qtbot.waitUntil(lambda: panel.finished, timeout=60000)
    assert panel.last is not None and panel.last.done == panel.last.total >= 1 and panel.last.skipped >= 1
    assert panel.last.images_per_s > 0 and panel.last.failed == 0
    assert any(s.startswith("Study: ") and "images/s" in s and "ETA" in s for s in window.statuses)
    assert "Done: " in panel.label.text() and window.errors == []
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QWidget, OBJECT_NAME) is not None, timeout=30000)
    gallery = window.findChild(StudyGallery, OBJECT_NAME)
    assert gallery is not None and len(gallery.review.images) == 3
    assert json.loads((out / "study.json").read_text())["status"] == "complete"
    assert (out / "report.pdf").is_file()
    gallery.close()
