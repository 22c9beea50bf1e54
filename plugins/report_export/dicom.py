"""The "Save as DICOM…" command: the current image's explanation as DICOM objects in a chosen folder.

Writes what :func:`engine.dicom_out.write_results` writes (a TID 1500 SR with the model's boxes of
every explained class at the viewer's threshold and the user's boxes, a Parametric Map of the
heatmaps, one Secondary Capture per class of the overlay as the canvas shows it) into a folder the
user picks, off the GUI thread. The plugin setting ``deidentify`` applies, as for the PDF report.
Only the plugin API, the engine and Qt are imported.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PySide6.QtWidgets import QFileDialog

from engine.errors import RadLensError
from plugins.api import CancelledFn, ProgressFn, ViewerHost
from plugins.report_export.export import _submit, shown_image

TITLE = "Save as DICOM"


def save_as_dicom(host: ViewerHost) -> None:
    """``report.save_dicom``: ask for a folder, then write the objects there."""
    if not _ready(host):
        return
    start = str(host.settings.get("last_dicom_dir", "") or host.settings.get("last_dir", "") or Path.home())
    chosen = QFileDialog.getExistingDirectory(host.main_window(), f"{TITLE} — choose a folder", start)
    if chosen:
        save_dicom_to(host, Path(chosen))


def _ready(host: ViewerHost) -> bool:
    state = host.state
    if state.explanation is None or state.image is None:
        host.show_error(TITLE, "Nothing has been explained yet, so there are no results to save. "
                        "Fix: open a DICOM image and run the explanation (Explain image), then save as DICOM.")
        return False
    return True


def dicom_snapshot(host: ViewerHost, **extra: object) -> SimpleNamespace:
    """What the DICOM objects are made of, taken from the viewer's state on the GUI thread (the work
    then runs on the job runner): image as shown, explanation, threshold, boxes, colours, de-identify."""
    state = host.state
    return SimpleNamespace(image=shown_image(state), result=state.explanation, threshold=state.threshold,
                           gt=state.ground_truth, user=state.user_boxes, colormap=state.overlay.colormap,
                           deidentify=bool(host.settings.get("deidentify", False)), **extra)


def write_snapshot(snap: SimpleNamespace, folder: Path, progress: ProgressFn, pdf: Path | None = None) -> list[Path]:
    """Cut the boxes and write the SR, parametric map and captures (and ``pdf`` encapsulated) of ``snap``."""
    from engine.analysis import localise
    from engine.dicom_out import write_results

    annotations = snap.gt.merged(snap.user)
    progress(0.3, "cutting boxes")
    locs = localise(snap.result, snap.threshold, annotations)
    progress(0.4, "building DICOM objects")
    return write_results(folder, snap.image, snap.result, localisation=locs, user_boxes=snap.user,
                         annotations=annotations, pdf=pdf, deidentify=snap.deidentify, colormap=snap.colormap)


def save_dicom_to(host: ViewerHost, folder: Path) -> None:
    """Write the current explanation's DICOM objects into ``folder`` on the host's job runner."""
    if not _ready(host):
        return
    snap = dicom_snapshot(host)

    def work(cancelled: CancelledFn, progress: ProgressFn) -> list[Path]:
        return write_snapshot(snap, folder, progress)

    def done(paths: list[Path]) -> None:
        host.settings.set("last_dicom_dir", str(folder))
        host.show_status(f"Saved {len(paths)} DICOM files (SR, parametric map, secondary captures) to {folder}")

    def failed(exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, RadLensError) else f"{type(exc).__name__}: {exc}"
        host.show_error(f"{TITLE} failed", text)

    def progress(fraction: float, message: str) -> None:
        host.show_status(f"Saving as DICOM… {fraction * 100:.0f}% {message}")

    host.show_status(f"Saving DICOM objects to {folder}…")
    _submit(host, work, done, failed, progress)
