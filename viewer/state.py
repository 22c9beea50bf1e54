"""The viewer's state as plain Python: what is open, what is drawn, what the model said.

Widgets and plugins observe it; nothing here imports Qt, so the state logic is tested without
widgets. Every field change goes through :meth:`ViewerState.update`, which notifies the
subscribers of the fields that really changed (by identity or equality), in subscription order.
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
``colormap``        the overlay's colour map name (matplotlib), or None before the overlay sets it
``opacity``         the overlay's heatmap opacity in [0, 1], or None
``window``          the :class:`engine.io.Window` the canvas shows the image with, or None
``invert``          whether the canvas shows the image inverted (against the file's presentation)
==================  ==========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.annotations.model import AnnotationSet

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
    "colormap",
    "opacity",
    "window",
    "invert",
)

Callback = Callable[[Any], None]


@dataclass(frozen=True)
class Edit:
    """One undoable edit of the user's boxes."""

    description: str
    before: AnnotationSet
    after: AnnotationSet


class ViewerState:
    """Observable application state. See the module docstring for the fields."""

    def __init__(self) -> None:
        self.image: Any = None
        self.image_path: Any = None
        self.ground_truth = AnnotationSet()
        self.user_boxes = AnnotationSet()
        self.model: Any = None
        self.explanation: Any = None
        self.selected_class: str | None = None
        self.threshold: str = "top:0.05"
        self.localisation: Any = None
        self.perturbation: dict[str, Any] | None = None
        self.colormap: str | None = None
        self.opacity: float | None = None
        self.window: Any = None
        self.invert: bool = False
        self._subscribers: dict[str, list[Callback]] = {name: [] for name in FIELDS}
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    # --- observing -------------------------------------------------------------------------------
    def subscribe(self, field_name: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(new_value)`` after ``field_name`` changes; returns an unsubscribe function."""
        if field_name not in self._subscribers:
            raise KeyError(f"ViewerState has no field {field_name!r}; fields: {', '.join(FIELDS)}")
        self._subscribers[field_name].append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers[field_name]:
                self._subscribers[field_name].remove(callback)

        return unsubscribe

    def update(self, **changes: Any) -> None:
        """Set several fields, then notify each changed field's subscribers.

        A subscriber that raises is logged and does not stop the others.
        """
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise KeyError(f"ViewerState has no field(s) {sorted(unknown)}; fields: {', '.join(FIELDS)}")
        changed = []
        for name, value in changes.items():
            old = getattr(self, name)
            if old is value:
                continue
            try:
                same = bool(old == value)
            except Exception:  # arrays and other objects without a plain truth value
                same = False
            if same and type(old) is type(value):
                continue
            setattr(self, name, value)
            changed.append(name)
        for name in changed:
            for callback in list(self._subscribers[name]):
                try:
                    callback(getattr(self, name))
                except Exception:
                    log.exception("a subscriber of %r failed", name)

    def open_image(self, image: Any, path: Any, ground_truth: AnnotationSet, user_boxes: AnnotationSet) -> None:
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
