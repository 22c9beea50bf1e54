"""What the canvas shows, as plain Python (no Qt): window, inversion, orientation, tool, ruler.

The canvas widget observes a :class:`CanvasModel`; tests drive the model without widgets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from engine.io import Window
from viewer.display import Orientation

log = logging.getLogger(__name__)

TOOLS = ("pan", "box", "ruler")


class CanvasModel:
    """Observable display parameters of the main canvas.

    Attributes:
        window: The VOI window applied (None before an image is shown).
        invert: The user's inversion, on top of the file's presentation (MONOCHROME1).
        orientation: Rotation and flips.
        tool: What a left drag does: ``"pan"``, ``"box"`` (draw a user box) or ``"ruler"``.
        ruler: ``((x0, y0), (x1, y1))`` in image pixels, or None.
        selected_box: Id of the selected user box, or None.
        box_class: The class a new box gets.
    """

    FIELDS = ("window", "invert", "orientation", "tool", "ruler", "selected_box", "box_class")

    def __init__(self) -> None:
        self.window: Window | None = None
        self.invert = False
        self.orientation = Orientation()
        self.tool = "pan"
        self.ruler: tuple[tuple[float, float], tuple[float, float]] | None = None
        self.selected_box: str | None = None
        self.box_class = ""
        self._listeners: list[Callable[[str, Any], None]] = []

    def listen(self, callback: Callable[[str, Any], None]) -> None:
        """Call ``callback(field, value)`` after each change."""
        self._listeners.append(callback)

    def set(self, **changes: Any) -> None:
        """Change fields and notify the listeners of those that changed."""
        for name, value in changes.items():
            if name not in self.FIELDS:
                raise KeyError(f"CanvasModel has no field {name!r}")
            if name == "tool" and value not in TOOLS:
                raise ValueError(f"unknown tool {value!r}; tools: {', '.join(TOOLS)}")
            if getattr(self, name) == value:
                continue
            setattr(self, name, value)
            for callback in list(self._listeners):
                try:
                    callback(name, value)
                except Exception:
                    log.exception("a canvas listener of %r failed", name)
