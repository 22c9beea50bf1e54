"""The "Export report…" commands: ask for a file, then build and write the report off the GUI thread.

The state's values (image, model, explanation, selected class, threshold, localisation, boxes,
perturbation) are taken on the GUI thread when the command runs, so the report shows what was on
screen at that moment even if the user carries on working while it is written.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtWidgets import QFileDialog

from engine.errors import RadLensError

TASK_KEY = "report.export"
_FIELDS = ("image", "image_path", "ground_truth", "user_boxes", "model", "explanation", "selected_class", "threshold",
           "localisation", "perturbation")
#: The overlay's look, taken when the viewer state carries it (None otherwise: the report's defaults).
_OPTIONAL = ("colormap", "opacity")
_runner: Any = None


def export_report(host: Any) -> None:
    """``report.export``: the report of the current view (de-identified if the plugin setting says so)."""
    _export(host, bool(host.settings.get("deidentify", False)))


def export_deidentified_report(host: Any) -> None:
    """``report.export_deidentified``: the same without names, IDs, UIDs, dates or the file name."""
    _export(host, True)


def _export(host: Any, deidentify: bool) -> None:
    state = host.state
    if state.explanation is None or state.model is None or state.image is None:
        host.show_error("Export report", "Nothing has been explained yet, so there is nothing to report. "
                        "Fix: open an image and run the explanation (Explain image), then export the report.")
        return
    snapshot = SimpleNamespace(**{f: getattr(state, f) for f in _FIELDS},
                               **{f: getattr(state, f, None) for f in _OPTIONAL})
    snapshot.image = shown_image(state)
    path = _ask_path(host, snapshot, deidentify)
    if path is None:
        return

    def work(cancelled: Any, progress: Any) -> Path:
        from engine.report import from_viewer_state, write_report

        inp = from_viewer_state(snapshot, deidentify=deidentify)
        return write_report(inp, path, progress=progress, cancel=cancelled)

    def done(written: Path) -> None:
        host.settings.set("last_dir", str(written.parent))
        host.show_status(f"Report written: {written}")

    def failed(exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, RadLensError) else f"{type(exc).__name__}: {exc}"
        host.show_error("Export report failed", f"{path}: {text}" if str(path) not in text else text)

    def progress(fraction: float, message: str) -> None:
        host.show_status(f"Writing report… {fraction * 100:.0f}% {message}")

    host.show_status(f"Writing report to {path}…")
    _submit(work, done, failed, progress)


def shown_image(state: Any) -> Any:
    """The open image as the canvas shows it: with its window/level and inversion, if the state has them."""
    image = state.image
    window = getattr(state, "window", None)
    if window is not None and window != image.window:
        image = image.with_voi(window)
    if getattr(state, "invert", False):
        inverted = 1.0 - image.display
        inverted.setflags(write=False)
        image = dataclasses.replace(image, display=inverted)
    return image


def _ask_path(host: Any, snapshot: Any, deidentify: bool) -> Path | None:
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


def _submit(*args: Any) -> int:
    """Run on the plugin's TaskRunner (made again if the app shut the old one down)."""
    global _runner
    from viewer.worker import TaskRunner

    if _runner is None:
        _runner = TaskRunner()
    try:
        return _runner.submit(TASK_KEY, *args)
    except RuntimeError:  # shut down by viewer.worker.shutdown_all
        _runner = TaskRunner()
        return _runner.submit(TASK_KEY, *args)


def runner() -> Any:
    """The plugin's TaskRunner, or None before the first export (tests join it)."""
    return _runner
