"""The "Export report…" commands: ask for a file, then build and write the report off the GUI thread.

The state's values (image, model, explanation, selected class, threshold, localisation, boxes,
perturbation) and the overlay's look (``state.overlay``: colour map and opacity) are taken on the
GUI thread when the command runs, so the report shows what was on screen at that moment even if
the user carries on working while it is written. The report is written on the host's job runner.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtWidgets import QFileDialog

from engine.errors import RadLensError
from engine.io import StudyImage
from plugins.api import CancelledFn, HostState, JobRunner, ProgressFn, ViewerHost

TASK_KEY = "report.export"
_FIELDS = ("image", "image_path", "ground_truth", "user_boxes", "model", "explanation", "selected_class", "threshold",
           "localisation", "perturbation")
_runner: JobRunner | None = None
#: image path -> the PDF report last exported for it (File › Export to PACS… can add it as Encapsulated PDF)
exported_reports: dict[str, Path] = {}


def export_report(host: ViewerHost) -> None:
    """``report.export``: the report of the current view (de-identified if the plugin setting says so)."""
    _export(host, bool(host.settings.get("deidentify", False)))


def export_deidentified_report(host: ViewerHost) -> None:
    """``report.export_deidentified``: the same without names, IDs, UIDs, dates or the file name."""
    _export(host, True)


def _export(host: ViewerHost, deidentify: bool) -> None:
    state = host.state
    if state.explanation is None or state.model is None or state.image is None:
        host.show_error("Export report", "Nothing has been explained yet, so there is nothing to report. "
                        "Fix: open an image and run the explanation (Explain image), then export the report.")
        return
    look = state.overlay  # the overlay's display state, not its widgets
    snapshot = SimpleNamespace(**{f: getattr(state, f) for f in _FIELDS}, colormap=look.colormap,
                               opacity=look.opacity)
    snapshot.image = shown_image(state)
    path = _ask_path(host, snapshot, deidentify)
    if path is None:
        return

    def work(cancelled: CancelledFn, progress: ProgressFn) -> Path:
        from engine.report import from_viewer_state, write_report

        inp = from_viewer_state(snapshot, deidentify=deidentify)
        return write_report(inp, path, progress=progress, cancel=cancelled)

    def done(written: Path) -> None:
        host.settings.set("last_dir", str(written.parent))
        if snapshot.image_path is not None:
            exported_reports[str(snapshot.image_path)] = written
        host.show_status(f"Report written: {written}")

    def failed(exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, RadLensError) else f"{type(exc).__name__}: {exc}"
        host.show_error("Export report failed", f"{path}: {text}" if str(path) not in text else text)

    def progress(fraction: float, message: str) -> None:
        host.show_status(f"Writing report… {fraction * 100:.0f}% {message}")

    host.show_status(f"Writing report to {path}…")
    _submit(host, work, done, failed, progress)


def shown_image(state: HostState) -> StudyImage:
    """The open image as the canvas shows it: with its window/level and inversion.

    Raises:
        RadLensError: No image is open.
    """
    image = state.image
    if image is None:
        raise RadLensError("no image is open.", fix="open an image first.")
    window = state.window
    if window is not None and window != image.window:
        image = image.with_voi(window)
    if state.invert:
        inverted = 1.0 - image.display
        inverted.setflags(write=False)
        image = dataclasses.replace(image, display=inverted)
    return image


def _ask_path(host: ViewerHost, snapshot: SimpleNamespace, deidentify: bool) -> Path | None:
    folder = Path(host.settings.get("last_dir", "") or Path.home())
    parts = ["radlens-report"]
    if not deidentify and snapshot.image_path is not None:
        parts.append(Path(snapshot.image_path).stem)
    if snapshot.selected_class:
        parts.append(snapshot.selected_class)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)) + ".pdf"
    chosen, _ = QFileDialog.getSaveFileName(host.main_window(), "Export report", str(folder / name),
                                            "PDF documents (*.pdf)")
    if not chosen:
        return None
    path = Path(chosen)
    return path if path.suffix.lower() == ".pdf" else path.with_name(path.name + ".pdf")


def _submit(host: ViewerHost, *args: Any) -> int:
    """Run on the plugin's job runner (made again if the app shut the old one down)."""
    global _runner
    if _runner is None:
        _runner = host.task_runner(None)
    try:
        return _runner.submit(TASK_KEY, *args)
    except RuntimeError:  # shut down by the app (viewer.worker.shutdown_all)
        _runner = host.task_runner(None)
        return _runner.submit(TASK_KEY, *args)


def runner() -> JobRunner | None:
    """The plugin's job runner, or None before the first export (tests join it)."""
    return _runner
