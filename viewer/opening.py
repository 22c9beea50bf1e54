"""Opening files and folders, the start-up model, and annotation import/export: :class:`OpeningController`.

The controller works on explicit collaborators (the viewer state, the session, the settings, the
job runner, the study browser, the corner labels, the status bar and a :class:`Messages` sink) and
never reaches into the main window. A folder is scanned in the background; when the scan ends,
the image the user had open last in that folder (settings ``last_file``) or else the first image
is shown.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6 import QtWidgets

from engine.annotations import AnnotationSet, Source, find_sidecar, image_key, read_sidecar, write_sidecar
from engine.annotations.vinbigdata import write_vinbigdata_csv
from engine.errors import RadLensError
from engine.io.study import StudyIndex
from engine.resources import demo_images
from viewer.corner_labels import CornerLabels
from viewer.session import Session, find_ground_truth
from viewer.settings import Settings
from viewer.state import ViewerState
from viewer.status_bar import StatusBar
from viewer.study_browser import StudyBrowser
from viewer.worker import CancelledFn, ProgressFn, TaskRunner

if TYPE_CHECKING:
    from engine.models.bundle import LoadedModel

log = logging.getLogger(__name__)

TITLE = "{name} — RadLens (research use, not for diagnostic use)"
_default_classes: tuple[str, ...] | None = None


class Messages(Protocol):
    """Where the controller reports to the user (the main window)."""

    def show_error(self, title: str, message: str) -> None: ...

    def show_status(self, message: str, timeout_ms: int = 5000) -> None: ...


def default_bundle_classes() -> tuple[str, ...]:
    """Class names of the bundled default model (its ``ModelManifest``; no model is loaded)."""
    global _default_classes
    if _default_classes is None:
        _default_classes = ()
        from engine.models.manifest import ModelManifest  # torch-free

        try:
            _default_classes = tuple(ModelManifest.from_bundle("default").class_names)
        except RadLensError as exc:
            log.warning("%s", exc)
    return _default_classes


class OpeningController:
    """Opens folders and images, loads the start-up model, imports and exports annotations.

    Args:
        parent: The window: parent of the file dialogs; its title names the open file.
        state: The viewer state (what is open).
        session: Opens images into the state and keeps the ground truth.
        settings: ``last_path``, ``last_file`` and ``annotations_path`` are read and written.
        jobs: The job runner (the start-up model loads under key ``model``).
        browser: The study browser (scans folders, lists their images).
        corners: The canvas's corner labels (patient, study, position, spacing).
        status: The status bar (the model label).
        messages: Where errors and status messages go.
    """

    def __init__(self, parent: QtWidgets.QWidget, state: ViewerState, session: Session, settings: Settings,
                 jobs: TaskRunner, browser: StudyBrowser, corners: CornerLabels, status: StatusBar,
                 messages: Messages) -> None:
        self.parent = parent
        self.state = state
        self.session = session
        self.settings = settings
        self.jobs = jobs
        self.browser = browser
        self.corners = corners
        self.status = status
        self.messages = messages
        self.pending_open = False  # a folder was opened: show its last or first image when the scan ends
        self.model_loading = False
        state.subscribe("image", lambda _image: self.fill_corners())

    def known_classes(self) -> tuple[str, ...]:
        """Classes for colours and the box tool: the model's (or default bundle's), then annotations'."""
        model = self.state.model
        names = list(model.manifest.class_names if model is not None else default_bundle_classes())
        for name in (*self.state.ground_truth.classes, *self.state.user_boxes.classes):
            if name not in names:
                names.append(name)
        return tuple(names)

    # --- opening ------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Open a folder (scanned, then its last or first image) or a file (shown now, folder scanned)."""
        path = Path(path).expanduser()
        if not path.exists():
            self.messages.show_error("Open", f"{path} does not exist.")
            return
        s = self.settings
        gt = None
        if s["annotations_path"] and s["last_path"] == str(path) and Path(s["annotations_path"]).is_file():
            gt = Path(s["annotations_path"])
        gt = gt or find_ground_truth(path)
        try:
            n = self.session.set_ground_truth(gt)
            if gt is not None:
                self.messages.show_status(f"Ground truth: {gt} ({n} images)", 8000)
        except RadLensError as exc:
            self.messages.show_error("Ground truth", str(exc))
        if s["last_path"] != str(path):
            s["last_file"] = None
        s["last_path"] = str(path)
        self.pending_open = path.is_dir()
        self.browser.scan(path if path.is_dir() else path.parent)
        if path.is_file():
            self.open_image(path)
        self.save_settings()

    def open_demo(self) -> None:
        self.open_path(demo_images())

    def on_scanned(self, _index: StudyIndex) -> None:
        """The browser finished a scan: open the folder's image, or refresh "image i of n"."""
        if not self.pending_open:
            if self.state.image_path is not None:
                self.browser.select(Path(self.state.image_path))
                self.fill_corners()  # "image i of n" needs the scan
            return
        self.pending_open = False
        paths = self.browser.image_paths()
        if not paths:
            self.messages.show_status("No images in this folder", 8000)
            return
        last = self.settings["last_file"]
        target = Path(last).resolve() if last and Path(last).resolve() in paths else paths[0]
        self.open_image(target)

    def open_image(self, path: Path, frame: int = 0) -> bool:
        """Show one image (and its annotations); an unreadable file shows its reason."""
        path = Path(path)
        try:
            self.session.open(path, frame)
        except RadLensError as exc:
            self.messages.show_error("Cannot open image", str(exc))
            return False
        self.settings["last_file"] = str(path)
        self.browser.select(path)
        self.parent.setWindowTitle(TITLE.format(name=path.name))
        self.save_settings()
        return True

    def show_frame(self, frame: int) -> None:
        if self.state.image is None or frame == self.state.image.frame_index:
            return
        try:
            self.session.show_frame(frame)
        except RadLensError as exc:
            self.messages.show_error("Cannot show frame", str(exc))

    def step_image(self, step: int) -> None:
        paths = self.browser.image_paths()
        if not paths:
            return
        current = Path(self.state.image_path).resolve() if self.state.image_path else None
        i = paths.index(current) if current in paths else -step
        self.open_image(paths[(i + step) % len(paths)])

    def save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("settings not saved: %s", exc)

    # --- corners ------------------------------------------------------------------------------------
    def fill_corners(self) -> None:
        """Patient and study, position in the folder and frame, size and spacing (on every image)."""
        image = self.state.image
        corners = self.corners
        if image is None:
            for c in ("top_left", "top_right", "bottom_right"):
                corners.set_text(c, "")
            return
        m = image.metadata
        corners.set_text("top_left", "\n".join(x for x in (
            m.patient_name, f"ID {m.patient_id}" if m.patient_id else "",
            " ".join(x for x in (m.sex, m.birth_date) if x), m.study_description, m.study_date) if x))
        paths = self.browser.image_paths()
        here = Path(image.path).resolve()
        pos = f"Image {paths.index(here) + 1}/{len(paths)}" if here in paths else ""
        frame = f"Frame {image.frame_index + 1}/{image.n_frames}" if image.n_frames > 1 else ""
        corners.set_text("top_right", "\n".join(x for x in (
            " ".join(x for x in (m.modality, m.body_part, m.view_position) if x), m.series_description, pos,
            frame) if x))
        spacing = (f"{image.spacing[1]:.3g} × {image.spacing[0]:.3g} mm/px ({image.spacing_source})"
                   if image.spacing else "spacing unknown: distances in pixels")
        corners.set_text("bottom_right", f"{image.shape[1]} × {image.shape[0]} px\n{spacing}\n{Path(image.path).name}")

    # --- dialogs ------------------------------------------------------------------------------------
    def _start_dir(self) -> str:
        last = self.settings["last_path"]
        return str(Path(last).parent if last and Path(last).is_file() else last or Path.home())

    def open_file_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.parent, "Open image", self._start_dir())
        if path:
            self.open_path(Path(path))

    def open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self.parent, "Open folder", self._start_dir())
        if path:
            self.open_path(Path(path))

    def import_annotations(self, path: Path) -> int:
        """Use ``path`` as ground truth for the open folder; returns the images it covers.

        Raises:
            RadLensError: The file cannot be read as annotations.
        """
        n = self.session.set_ground_truth(path)
        self.settings["annotations_path"] = str(path)
        if self.state.image_path is not None and self.state.image is not None:
            self.session.open(Path(self.state.image_path), self.state.image.frame_index)
        self.messages.show_status(f"Imported {path.name}: annotations for {n} images", 8000)
        return n

    def import_annotations_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.parent, "Import annotations", self._start_dir(), "Annotations (*.csv *.json);;All files (*)")
        if path:
            try:
                self.import_annotations(Path(path))
            except RadLensError as exc:
                self.messages.show_error("Import annotations", str(exc))

    def users_boxes_by_image(self) -> dict[str, AnnotationSet]:
        """The user's boxes of every image of the open folder (from the sidecars, the open image live)."""
        out: dict[str, AnnotationSet] = {}
        for path in self.browser.image_paths():
            if find_sidecar(path) is not None:
                try:
                    out[image_key(path)] = read_sidecar(path).annotations.filter(source=Source.USER)
                except RadLensError as exc:
                    log.warning("%s", exc)
        if self.state.image_path is not None:
            out[image_key(self.state.image_path)] = self.state.user_boxes
        return {k: v for k, v in out.items() if v.boxes}

    def export_boxes(self, kind: str, target: Path) -> Path:
        """Write the user's boxes: ``csv`` = one VinBigData CSV for the folder, ``json`` = the open
        image's sidecar into folder ``target``.

        Raises:
            RadLensError: Nothing is open (``json``) or the file cannot be written.
        """
        if kind == "csv":
            return write_vinbigdata_csv(target, self.users_boxes_by_image())
        image, path = self.state.image, self.state.image_path
        if image is None or path is None:
            raise RadLensError("no image is open, so there is no sidecar to export.", fix="open an image first.")
        uid = image.metadata.sop_instance_uid or None
        return write_sidecar(target / Path(path).name, self.state.user_boxes, sop_instance_uid=uid,
                             image_shape=image.shape)

    def export_boxes_dialog(self, kind: str) -> None:
        if self.state.image_path is None:
            self.messages.show_status("Open an image first", 5000)
            return
        if kind == "csv":
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self.parent, "Export boxes (VinBigData CSV)",
                                                            self._start_dir(), "CSV (*.csv)")
        else:
            path = QtWidgets.QFileDialog.getExistingDirectory(self.parent, "Export sidecar JSON into folder",
                                                              self._start_dir())
        if path:
            try:
                written = self.export_boxes(kind, Path(path))
                self.messages.show_status(f"Exported to {written}", 8000)
            except RadLensError as exc:
                self.messages.show_error("Export", str(exc))

    # --- the model ----------------------------------------------------------------------------------
    def load_model(self, spec: str | None) -> None:
        """Load a model bundle (``"default"`` or a folder) in the background (key ``model``) into
        ``state.model``. The result is used only if no plugin has set ``state.model`` meanwhile."""
        if not spec or spec == "none":
            return
        self.model_loading = True
        self.status.set_model(None, loading=True)

        def done(model: LoadedModel) -> None:
            self.model_loading = False
            if self.state.model is None:
                self.state.update(model=model)

        def failed(exc: BaseException) -> None:
            self.model_loading = False
            self.status.set_model(self.state.model)
            self.messages.show_error("Model", f"The model {spec!r} could not be loaded: {exc}")

        def load(_cancelled: CancelledFn, _progress: ProgressFn) -> LoadedModel:
            from engine.models import load_model as engine_load

            return engine_load(spec)

        self.jobs.submit("model", load, done, failed)
