"""Opening files and folders, the start-up model, and annotation import/export for the main window.

Functions of the :class:`viewer.main_window.MainWindow` kept out of it so that it stays small.
A folder is scanned in the background; when the scan ends, the image the user had open last in
that folder (settings ``last_file``) or else the first image is shown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from engine.annotations import AnnotationSet, Source, find_sidecar, image_key, read_sidecar, write_sidecar
from engine.annotations.vinbigdata import write_vinbigdata_csv
from engine.errors import RadLensError
from viewer.session import find_ground_truth
from viewer.status_bar import BUNDLES

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEMO_IMAGES = ROOT / "resources" / "demo" / "images"
_default_classes: tuple[str, ...] | None = None


def default_bundle_classes() -> tuple[str, ...]:
    """Class names of the bundled default model (read from model.json, no torch)."""
    global _default_classes
    if _default_classes is None:
        _default_classes = ()
        try:
            for candidate in sorted(BUNDLES.iterdir()):
                if (candidate / "model.json").is_file():
                    doc = json.loads((candidate / "model.json").read_text(encoding="utf-8"))
                    _default_classes = tuple(doc.get("class_names", ()))
                    break
        except (OSError, ValueError):
            pass
    return _default_classes


def known_classes(w: Any) -> tuple[str, ...]:
    model = w.state.model
    names = list(model.manifest.class_names if model is not None else default_bundle_classes())
    for name in (*w.state.ground_truth.classes, *w.state.user_boxes.classes):
        if name not in names:
            names.append(name)
    return tuple(names)


# --- opening ------------------------------------------------------------------------------------------
def open_path(w: Any, path: Path) -> None:
    """Open a folder (scanned, then its last or first image) or a file (shown now, folder scanned)."""
    path = path.expanduser()
    if not path.exists():
        w.show_error("Open", f"{path} does not exist.")
        return
    s = w.settings
    gt = None
    if s["annotations_path"] and s["last_path"] == str(path) and Path(s["annotations_path"]).is_file():
        gt = Path(s["annotations_path"])
    gt = gt or find_ground_truth(path)
    try:
        n = w.session.set_ground_truth(gt)
        if gt is not None:
            w.show_status(f"Ground truth: {gt} ({n} images)", 8000)
    except RadLensError as exc:
        w.show_error("Ground truth", str(exc))
    if s["last_path"] != str(path):
        s["last_file"] = None
    s["last_path"] = str(path)
    w._pending_open = path.is_dir()
    w.browser.scan(path if path.is_dir() else path.parent)
    if path.is_file():
        open_image(w, path)
    save_settings(w)


def open_demo(w: Any) -> None:
    open_path(w, DEMO_IMAGES)


def on_scanned(w: Any, index: Any) -> None:
    if not getattr(w, "_pending_open", False):
        if w.state.image_path is not None:
            w.browser.select(Path(w.state.image_path))
            fill_corners(w)  # "image i of n" needs the scan
        return
    w._pending_open = False
    paths = w.browser.image_paths()
    if not paths:
        w.show_status("No images in this folder", 8000)
        return
    last = w.settings["last_file"]
    target = Path(last).resolve() if last and Path(last).resolve() in paths else paths[0]
    open_image(w, target)


def open_image(w: Any, path: Path, frame: int = 0) -> bool:
    """Show one image (and its annotations); an unreadable file shows its reason."""
    try:
        w.session.open(path, frame)
    except RadLensError as exc:
        w.show_error("Cannot open image", str(exc))
        return False
    w.settings["last_file"] = str(path)
    w.browser.select(path)
    w.setWindowTitle(f"{path.name} — RadLens (research use, not for diagnostic use)")
    save_settings(w)
    return True


def show_frame(w: Any, frame: int) -> None:
    if w.state.image is None or frame == w.state.image.frame_index:
        return
    try:
        w.session.show_frame(frame)
    except RadLensError as exc:
        w.show_error("Cannot show frame", str(exc))


def step_image(w: Any, step: int) -> None:
    paths = w.browser.image_paths()
    if not paths:
        return
    current = Path(w.state.image_path).resolve() if w.state.image_path else None
    i = paths.index(current) if current in paths else -step
    open_image(w, paths[(i + step) % len(paths)])


def save_settings(w: Any) -> None:
    try:
        w.settings.save()
    except OSError as exc:
        log.warning("settings not saved: %s", exc)


# --- corners ---------------------------------------------------------------------------------------------------
def fill_corners(w: Any) -> None:
    image = w.state.image
    corners = w.canvas.corners
    if image is None:
        for c in ("top_left", "top_right", "bottom_right"):
            corners.set_text(c, "")
        return
    m = image.metadata
    corners.set_text("top_left", "\n".join(x for x in (
        m.patient_name, f"ID {m.patient_id}" if m.patient_id else "", " ".join(x for x in (m.sex, m.birth_date) if x),
        m.study_description, m.study_date) if x))
    paths = w.browser.image_paths()
    here = Path(image.path).resolve()
    pos = f"Image {paths.index(here) + 1}/{len(paths)}" if here in paths else ""
    frame = f"Frame {image.frame_index + 1}/{image.n_frames}" if image.n_frames > 1 else ""
    corners.set_text("top_right", "\n".join(x for x in (
        " ".join(x for x in (m.modality, m.body_part, m.view_position) if x), m.series_description, pos, frame) if x))
    spacing = (f"{image.spacing[1]:.3g} × {image.spacing[0]:.3g} mm/px ({image.spacing_source})"
               if image.spacing else "spacing unknown: distances in pixels")
    corners.set_text("bottom_right", f"{image.shape[1]} × {image.shape[0]} px\n{spacing}\n{Path(image.path).name}")


# --- dialogs ---------------------------------------------------------------------------------------------------
def _start_dir(w: Any) -> str:
    last = w.settings["last_path"]
    return str(Path(last).parent if last and Path(last).is_file() else last or Path.home())


def open_file_dialog(w: Any) -> None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(w, "Open image", _start_dir(w))
    if path:
        open_path(w, Path(path))


def open_folder_dialog(w: Any) -> None:
    path = QtWidgets.QFileDialog.getExistingDirectory(w, "Open folder", _start_dir(w))
    if path:
        open_path(w, Path(path))


def import_annotations(w: Any, path: Path) -> int:
    """Use ``path`` as ground truth for the open folder; returns the images it covers."""
    n = w.session.set_ground_truth(path)
    w.settings["annotations_path"] = str(path)
    if w.state.image_path is not None:
        w.session.open(Path(w.state.image_path), w.state.image.frame_index)
    w.show_status(f"Imported {path.name}: annotations for {n} images", 8000)
    return n


def import_annotations_dialog(w: Any) -> None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        w, "Import annotations", _start_dir(w), "Annotations (*.csv *.json);;All files (*)")
    if path:
        try:
            import_annotations(w, Path(path))
        except RadLensError as exc:
            w.show_error("Import annotations", str(exc))


def users_boxes_by_image(w: Any) -> dict[str, AnnotationSet]:
    """The user's boxes of every image of the open folder (from the sidecars, the open image live)."""
    out: dict[str, AnnotationSet] = {}
    for path in w.browser.image_paths():
        if find_sidecar(path) is not None:
            try:
                out[image_key(path)] = read_sidecar(path).annotations.filter(source=Source.USER)
            except RadLensError as exc:
                log.warning("%s", exc)
    if w.state.image_path is not None:
        out[image_key(w.state.image_path)] = w.state.user_boxes
    return {k: v for k, v in out.items() if v.boxes}


def export_boxes(w: Any, kind: str, target: Path) -> Path:
    """Write the user's boxes: ``csv`` = one VinBigData CSV for the folder, ``json`` = the open
    image's sidecar into folder ``target``."""
    if kind == "csv":
        return write_vinbigdata_csv(target, users_boxes_by_image(w))
    image = w.state.image
    uid = image.metadata.sop_instance_uid or None
    return write_sidecar(target / Path(w.state.image_path).name, w.state.user_boxes,
                         sop_instance_uid=uid, image_shape=image.shape)


def export_boxes_dialog(w: Any, kind: str) -> None:
    if w.state.image_path is None:
        w.show_status("Open an image first", 5000)
        return
    if kind == "csv":
        path, _ = QtWidgets.QFileDialog.getSaveFileName(w, "Export boxes (VinBigData CSV)", _start_dir(w),
                                                        "CSV (*.csv)")
    else:
        path = QtWidgets.QFileDialog.getExistingDirectory(w, "Export sidecar JSON into folder", _start_dir(w))
    if path:
        try:
            written = export_boxes(w, kind, Path(path))
            w.show_status(f"Exported to {written}", 8000)
        except RadLensError as exc:
            w.show_error("Export", str(exc))


# --- the model --------------------------------------------------------------------------------------------------
def load_model(w: Any, spec: str | None) -> None:
    """Load a model bundle (``"default"`` or a folder) in the background into ``state.model``.

    The result is used only if no plugin has set ``state.model`` meanwhile.
    """
    if not spec or spec == "none":
        return
    w.model_loading = True
    w.status.set_model(None, loading=True)

    def done(model: Any) -> None:
        w.model_loading = False
        if w.state.model is None:
            w.state.update(model=model)

    def failed(exc: BaseException) -> None:
        w.model_loading = False
        w.status.set_model(w.state.model)
        w.show_error("Model", f"The model {spec!r} could not be loaded: {exc}")

    def load() -> Any:
        from engine.models import load_model as engine_load

        return engine_load(spec)

    w.jobs.submit("model", load, done, failed)
