"""File > Run study…: run a ``radlens study`` from the viewer, with its progress in the app's job system.

The dialog asks for the study (a preset or a YAML file), the data folder, the output folder, the
workers (0 = in this process, the default here; N = a local Ray with N scoring actors) and whether to
resume. The study runs as one background job of the main window's :class:`viewer.worker.TaskRunner`
(key ``study-run``) through :func:`training.study.run_study`; a progress window shows images
done/total, images/s, ETA and failures, with a Cancel button. A cancelled study keeps every image
already scored and is resumable (tick *Resume* with the same output folder, or
``radlens study run ... --resume``); the window says so. When the study ends, its review gallery
opens (:func:`viewer.study_gallery.open_study`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from training.study.pipeline import RunSummary, StudyProgress
from viewer.worker import CancelledFn, ProgressFn

DIALOG_NAME = "study_run_dialog"
PANEL_NAME = "study_run_panel"
JOB_KEY = "study-run"
YAML_ITEM = "YAML file…"


@dataclass(frozen=True)
class StudyRunRequest:
    """What the dialog asks to run.

    Attributes:
        study: ``preset:NAME`` or a YAML file path.
        data: The data folder; out: the output folder.
        workers: 0 = in this process; N = a local Ray with N scoring actors.
        resume: Continue the study already in ``out``.
    """

    study: str
    data: str
    out: str
    workers: int = 0
    resume: bool = False

    def command(self) -> str:
        """The equivalent ``radlens study run`` command line."""
        import shlex

        words = ["radlens", "study", "run", self.study, "--data", self.data, "--out", self.out,
                 "--workers", str(self.workers)]
        return shlex.join([*words, "--resume"] if self.resume else words)


class RunStudyDialog(QtWidgets.QDialog):
    """Choose a study, its data and output folders and the workers (see the module docstring)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        from training.study import list_presets

        self.setObjectName(DIALOG_NAME)
        self.setWindowTitle("Run study — research use, not for diagnostic use")
        self.study_combo = QtWidgets.QComboBox()
        for name, description in list_presets().items():
            self.study_combo.addItem(f"preset:{name}", f"preset:{name}")
            self.study_combo.setItemData(self.study_combo.count() - 1, description, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.study_combo.addItem(YAML_ITEM, "")
        self.yaml_edit = QtWidgets.QLineEdit()
        self.yaml_edit.setPlaceholderText("study YAML file")
        self.data_edit = QtWidgets.QLineEdit()
        self.data_edit.setPlaceholderText("data folder (e.g. a radlens phantom folder)")
        self.out_edit = QtWidgets.QLineEdit()
        self.out_edit.setPlaceholderText("output folder (tables, figures, report.pdf)")
        self.workers_spin = QtWidgets.QSpinBox()
        self.workers_spin.setRange(0, 256)
        self.workers_spin.setToolTip("0 runs in this process; N starts a local Ray with N scoring actors")
        self.workers_spin.setSpecialValueText("0 (in this process)")
        self.resume_box = QtWidgets.QCheckBox("Resume the study in the output folder")
        self.description = QtWidgets.QLabel("")
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555555;")
        form = QtWidgets.QFormLayout()
        form.addRow("Study", self.study_combo)
        form.addRow("", self.description)
        form.addRow("YAML file", self._with_browse(self.yaml_edit, self._browse_yaml))
        form.addRow("Data folder", self._with_browse(self.data_edit, lambda: self._browse_folder(self.data_edit)))
        form.addRow("Output folder", self._with_browse(self.out_edit, lambda: self._browse_folder(self.out_edit)))
        form.addRow("Workers", self.workers_spin)
        form.addRow("", self.resume_box)
        self.error = QtWidgets.QLabel("")
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Run")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.study_combo.currentIndexChanged.connect(self._study_changed)
        self._study_changed()

    def _with_browse(self, edit: QtWidgets.QLineEdit, browse: Any) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        button = QtWidgets.QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(edit, 1)
        row.addWidget(button)
        return box

    def _browse_yaml(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Study file", str(Path.home()), "YAML (*.yaml *.yml)")
        if path:
            self.yaml_edit.setText(path)

    def _browse_folder(self, edit: QtWidgets.QLineEdit) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder", edit.text() or str(Path.home()))
        if path:
            edit.setText(path)

    def _study_changed(self) -> None:
        self.yaml_edit.setEnabled(not self.study_combo.currentData())
        tip = self.study_combo.itemData(self.study_combo.currentIndex(), QtCore.Qt.ItemDataRole.ToolTipRole)
        self.description.setText(str(tip) if self.study_combo.currentData() and tip else "")

    def request(self) -> StudyRunRequest:
        """The run the dialog describes (not validated)."""
        study = str(self.study_combo.currentData() or self.yaml_edit.text().strip())
        return StudyRunRequest(study, self.data_edit.text().strip(), self.out_edit.text().strip(),
                               self.workers_spin.value(), self.resume_box.isChecked())

    def problems(self) -> list[str]:
        """What is missing before the study can run (empty: it can)."""
        r = self.request()
        out = []
        if not r.study:
            out.append("choose a preset or a study YAML file")
        elif not r.study.startswith("preset:") and not Path(r.study).is_file():
            out.append(f"the study file {r.study} does not exist")
        if not r.data or not Path(r.data).is_dir():
            out.append("choose an existing data folder")
        if not r.out:
            out.append("choose an output folder")
        return out

    def _accept(self) -> None:
        problems = self.problems()
        if problems:
            self.error.setText("Cannot run: " + "; ".join(problems) + ".")
            return
        self.accept()


class StudyRunPanel(QtWidgets.QWidget):
    """The progress window of a running study: a bar, images done/total, images/s, ETA, failures, Cancel."""

    def __init__(self, request: StudyRunRequest, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        self.setObjectName(PANEL_NAME)
        self.setWindowTitle(f"Study {request.study} — research use, not for diagnostic use")
        self.request = request
        self.cancel_event = threading.Event()
        self.title = QtWidgets.QLabel(f"{request.study} on {request.data}\n→ {request.out}")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first image (models load, the work list is read)
        self.label = QtWidgets.QLabel("Loading the models and reading the data…")
        self.label.setObjectName("study_run_panel.progress")
        self.label.setWordWrap(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        self.close_button.setEnabled(False)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        self.resize(520, 150)
        self.finished = False
        self.last: StudyProgress | None = None

    def show_progress(self, p: StudyProgress) -> None:
        """Show where the study stands."""
        self.last = p
        self.bar.setRange(0, max(1, p.total))
        self.bar.setValue(p.done)
        skipped = f" ({p.skipped} already done)" if p.skipped else ""
        self.label.setText(p.text() + skipped)

    def cancel(self) -> None:
        """Ask the study to stop after the image(s) in flight; what is scored is kept."""
        self.cancel_event.set()
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling after the images in flight… (everything scored is kept)")

    def show_end(self, summary: RunSummary) -> None:
        """Say how the run ended (cancelled runs: how to resume)."""
        self.finished = True
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        if summary.interrupted:
            self.label.setText(f"Cancelled: {summary.done} image(s) scored and kept, {summary.failed} failed. "
                               "The study is resumable: File › Run study… with the same output folder and "
                               f"'Resume' ticked, or: {_resume(self.request).command()}")
        else:
            self.bar.setRange(0, 1)
            self.bar.setValue(1)
            self.label.setText(f"Done: {summary.done} image(s) scored, {summary.failed} failed, {summary.skipped} "
                               f"already done, in {summary.seconds:.1f} s. Tables, figures and report.pdf are in "
                               f"{summary.out}. The review gallery opens.")

    def show_failure(self, message: str) -> None:
        self.finished = True
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        self.bar.setRange(0, 1)
        self.label.setText(f"The study stopped: {message}")


def _resume(r: StudyRunRequest) -> StudyRunRequest:
    return StudyRunRequest(r.study, r.data, r.out, r.workers, True)


def run_study_in_viewer(window: Any, request: StudyRunRequest) -> StudyRunPanel:
    """Run ``request`` as a background job of ``window.jobs`` with a progress window; returns the window.

    When the study ends its gallery opens (:func:`viewer.study_gallery.open_study`); a cancelled
    study says how to resume; an error goes to the progress window and ``window.show_error``.
    """
    from training.study import load_study, run_study
    from viewer.study_gallery import open_study

    old = window.findChild(StudyRunPanel, PANEL_NAME)
    if old is not None and not old.finished:
        window.show_error("Run study", "a study is already running; cancel it or wait for it to end.")
        return old
    if old is not None:
        old.close()
        old.deleteLater()
    panel = StudyRunPanel(request, window)
    latest: list[StudyProgress] = []  # the newest progress (written by the job's thread, read on the GUI thread)

    def task(cancelled: CancelledFn, progress: ProgressFn) -> RunSummary:
        cfg = load_study(request.study).with_overrides(folder=request.data)

        def report(p: StudyProgress) -> None:
            latest[:] = [p]
            progress(p.done / max(1, p.total), p.text())

        return run_study(cfg, request.out, workers=request.workers, resume=request.resume, progress=False,
                         command=request.command(), on_progress=report,
                         cancel=lambda: cancelled() or panel.cancel_event.is_set())

    def on_progress(_fraction: float, message: str) -> None:
        if latest:
            panel.show_progress(latest[0])
        window.show_status(f"Study: {message}", 5000)

    def on_done(summary: RunSummary) -> None:
        panel.show_end(summary)
        if summary.interrupted:
            window.show_status(f"Study cancelled after {summary.done} image(s); resumable ({request.out})", 15000)
            return
        window.show_status(f"Study done: {summary.done} image(s) -> {request.out}", 15000)
        open_study(window, request.out)

    def on_error(exc: BaseException) -> None:
        panel.show_failure(str(exc))
        window.show_error("Run study", str(exc))

    panel.show()
    window.jobs.submit(JOB_KEY, task, on_done, on_error, on_progress)
    return panel


def run_study_dialog(window: Any) -> None:
    """File > Run study…: the dialog, then :func:`run_study_in_viewer`."""
    dialog = RunStudyDialog(window)
    if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
        run_study_in_viewer(window, dialog.request())
