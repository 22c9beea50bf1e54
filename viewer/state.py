"""The viewer's state as plain Python: what is open, what is drawn, what the model said.

Widgets and plugins observe it; nothing here imports Qt, so the state logic is tested without
widgets. It is a :class:`plugins.observable.Observable` (the base it shares with
:class:`viewer.canvas_model.CanvasModel`): every field change goes through :meth:`ViewerState.update`,
which notifies the subscribers of the fields that really changed (by identity or equality), in
subscription order. It implements :class:`plugins.api.HostState`, what plugins see of it.
Edits of the user's boxes go through :meth:`ViewerState.edit_user_boxes` so that every edit can be
undone and redone.

Fields (read them as attributes):

==================  ==========================================================================
``image``           the :class:`engine.io.StudyImage` shown, or None
``image_path``      its file
``ground_truth``    :class:`engine.annotations.AnnotationSet` of ground-truth boxes for the image
``user_boxes``      :class:`engine.annotations.AnnotationSet` of the boxes the user drew
``model``           the :class:`engine.models.bundle.LoadedModel` in use, or None
``explanation``     the latest :class:`engine.explainers.result.ExplanationResult` for the image
``selected_class``  the class whose map is shown, or None
``threshold``       the threshold spec the boxes are cut at (``engine.localise.Threshold`` text)
``localisation``    the :class:`engine.analysis.ClassLocalisation` for the selected class, or None
``perturbation``    the latest perturbation result (a JSON-able dict, ``perturb.json`` schema)
``window``          the :class:`engine.io.Window` the canvas shows the image with, or None (the
                    one place it is stored: the canvas model reads and writes it here)
``invert``          whether the canvas shows the image inverted (against the file's presentation)
==================  ==========================================================================

``overlay`` is not a field but an observable of its own: the explanation overlay's display
settings (:class:`plugins.api.OverlayDisplay`: mode, colour map, opacity, box mode, minimum area,
normalisation); ``colormap`` and ``opacity`` read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.annotations.model import AnnotationSet
from plugins.api import OverlayDisplay
from plugins.observable import Observable

if TYPE_CHECKING:
    from engine.analysis import ClassLocalisation
    from engine.explainers.result import ExplanationResult
    from engine.io import StudyImage, Window
    from engine.models.bundle import LoadedModel

log = logging.getLogger(__name__)

FIELDS = (
    "image",
    "image_path",
    "ground_truth",
    "user_boxes",
    "model",
    "explanation",
    "selected_class",
    "threshold",
    "localisation",
    "perturbation",
    "window",
    "invert",
)


@dataclass(frozen=True)
class Edit:
    """One undoable edit of the user's boxes."""

    description: str
    before: AnnotationSet
    after: AnnotationSet


class ViewerState(Observable):
    """Observable application state. See the module docstring for the fields."""

    FIELDS = FIELDS

    def __init__(self) -> None:
        super().__init__()
        self.image: StudyImage | None = None
        self.image_path: Path | str | None = None
        self.ground_truth = AnnotationSet()
        self.user_boxes = AnnotationSet()
        self.model: LoadedModel | None = None
        self.explanation: ExplanationResult | None = None
        self.selected_class: str | None = None
        self.threshold: str = "top:0.05"
        self.localisation: ClassLocalisation | None = None
        self.perturbation: dict[str, Any] | None = None
        self.window: Window | None = None
        self.invert: bool = False
        self.overlay = OverlayDisplay()
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    @property
    def colormap(self) -> str:
        """The overlay's colour map (``overlay.colormap``)."""
        return self.overlay.colormap

    @property
    def opacity(self) -> float:
        """The overlay's heatmap opacity (``overlay.opacity``)."""
        return self.overlay.opacity

    def open_image(self, image: StudyImage | None, path: Path | str | None, ground_truth: AnnotationSet,
                   user_boxes: AnnotationSet) -> None:
        """Switch to another image: clears what belonged to the previous one and the undo history."""
        self._undo.clear()
        self._redo.clear()
        self.update(
            image=image,
            image_path=path,
            ground_truth=ground_truth,
            user_boxes=user_boxes,
            explanation=None,
            localisation=None,
            perturbation=None,
        )

    # --- undoable edits of the user's boxes ------------------------------------------------------------
    def edit_user_boxes(self, after: AnnotationSet, description: str) -> None:
        """Replace the user's boxes by ``after`` as one undoable step."""
        before = self.user_boxes
        if after == before:
            return
        self._undo.append(Edit(description, before, after))
        self._redo.clear()
        self.update(user_boxes=after)

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_text(self) -> str:
        return self._undo[-1].description if self._undo else ""

    def redo_text(self) -> str:
        return self._redo[-1].description if self._redo else ""

    def undo(self) -> bool:
        """Undo the last edit; False when there is none."""
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._redo.append(edit)
        self.update(user_boxes=edit.before)
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; False when there is none."""
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._undo.append(edit)
        self.update(user_boxes=edit.after)
        return True
