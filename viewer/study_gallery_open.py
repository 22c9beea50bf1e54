"""Opening a gallery image in the main viewer, with the study's explanation and its ground truth.

The image opens through the main window's :class:`viewer.opening.OpeningController` (its folder is
scanned for the study browser); the study's annotation file becomes the ground truth when the
folder's own lookup found another (or none); then the viewer state gets the study's model, the
explanation the gallery computed (the study's method, layer and parameters), the class and the
threshold the gallery sorted by. The explanation panel draws what the state holds; an "Explain on
open" run the panel started for the new image is cancelled (command ``explanation.cancel``) so that
it does not replace the study's explanation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import RadLensError
from training.study.review import Explanation

if TYPE_CHECKING:
    from engine.explainers.result import ExplanationResult
    from engine.models.bundle import LoadedModel

log = logging.getLogger(__name__)

CANCEL_COMMAND = "explanation.cancel"


@dataclass(frozen=True)
class OpenRequest:
    """What a click in the gallery asks the viewer to show.

    Attributes:
        path: The image file; image: its key in the study (relative path).
        cls: The class shown; explanation: the study explanation clicked.
        result: That explanation of the image (every class); model: the model that made it.
        threshold: The threshold the gallery sorted IoU at (None: keep the viewer's).
        annotations: The study's annotation file (None: the folder's own lookup).
    """

    path: Path
    image: str
    cls: str
    explanation: Explanation
    result: ExplanationResult
    model: LoadedModel
    threshold: str | None
    annotations: Path | None


def _same(a: Path | str | None, b: Path | str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def open_in_viewer(window: Any, request: OpenRequest) -> bool:
    """Show ``request`` in the main window (see the module docstring); False when the image did not open.

    Args:
        window: The :class:`viewer.main_window.MainWindow` (its ``opening``, ``session``,
            ``state``, ``host`` and message methods are used).
        request: The image, class, explanation and ground truth to show.
    """
    window.opening.open_path(request.path)
    state = window.state
    if not _same(state.image_path, request.path):
        return False  # the controller has shown why (unreadable file)
    ann = request.annotations
    if ann is not None and ann.is_file() and not _same(window.session.ground_truth_path, ann):
        try:
            window.opening.import_annotations(ann)
        except RadLensError as exc:
            window.show_error("Ground truth", str(exc))
    if state.model is None or state.model.weights_sha256 != request.model.weights_sha256:
        state.update(model=request.model)
    changes: dict[str, Any] = {"explanation": request.result, "selected_class": request.cls}
    if request.threshold:
        changes["threshold"] = request.threshold
    state.update(**changes)
    host = getattr(window, "host", None)
    if host is not None and CANCEL_COMMAND in getattr(host, "commands", {}):
        host.run_command(CANCEL_COMMAND)
    window.show_status(f"{request.path.name}: {request.cls}, {request.explanation.label} (from the study)", 8000)
    window.raise_()
    window.activateWindow()
    return True
