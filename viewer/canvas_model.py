"""What the canvas shows, as plain Python (no Qt): window, inversion, orientation, tool, ruler.

The canvas widget observes a :class:`CanvasModel`; tests drive the model without widgets. It shares
its observable base (:class:`plugins.observable.Observable`) with :class:`viewer.state.ViewerState`,
and window/level and inversion are stored once, in the viewer state: the model reads and writes
``state.window`` and ``state.invert`` and passes their changes on to its own observers.
"""

from __future__ import annotations

from typing import Any

from engine.io import Window
from plugins.observable import FieldValueError, Observable
from viewer.display import Orientation
from viewer.state import ViewerState

TOOLS = ("pan", "box", "ruler")
#: Fields kept in the viewer state (one place), seen through the canvas model.
SHARED = ("window", "invert")


class CanvasModel(Observable):
    """Observable display parameters of the main canvas.

    Args:
        state: The viewer state that holds ``window`` and ``invert``; None makes a private one
            (a canvas on its own, e.g. in tests).

    Attributes:
        window: The VOI window applied (None before an image is shown); stored in ``state``.
        invert: The user's inversion, on top of the file's presentation (MONOCHROME1); stored in ``state``.
        orientation: Rotation and flips.
        tool: What a left drag does: ``"pan"``, ``"box"`` (draw a user box) or ``"ruler"``.
        ruler: ``((x0, y0), (x1, y1))`` in image pixels, or None.
        selected_box: Id of the selected user box, or None.
        box_class: The class a new box gets.
    """

    FIELDS = ("window", "invert", "orientation", "tool", "ruler", "selected_box", "box_class")

    def __init__(self, state: ViewerState | None = None) -> None:
        super().__init__()
        self.state = state if state is not None else ViewerState()
        self.orientation = Orientation()
        self.tool = "pan"
        self.ruler: tuple[tuple[float, float], tuple[float, float]] | None = None
        self.selected_box: str | None = None
        self.box_class = ""
        # a change made through the state (or another canvas model) reaches this model's observers
        self.state.subscribe("window", self._window_changed)
        self.state.subscribe("invert", self._invert_changed)

    def _window_changed(self, value: Window | None) -> None:
        self.notify("window", value)

    def _invert_changed(self, value: bool) -> None:
        self.notify("invert", value)

    @property
    def window(self) -> Window | None:
        return self.state.window

    @property
    def invert(self) -> bool:
        return self.state.invert

    def set(self, **changes: Any) -> None:
        """Change fields and notify the observers of those that changed (:meth:`update`)."""
        self.update(**changes)

    def update(self, **changes: Any) -> None:
        shared = {k: (bool(v) if k == "invert" else v) for k, v in changes.items() if k in SHARED}
        own = {k: v for k, v in changes.items() if k not in SHARED}
        self.check_fields(own)
        for name, value in own.items():
            self.validate(name, value)
        super().update(**own)
        if shared:
            self.state.update(**shared)  # notifies this model's observers through the subscription

    def validate(self, name: str, value: Any) -> None:
        if name == "tool" and value not in TOOLS:
            raise FieldValueError(f"unknown tool {value!r}.", fix=f"use one of: {', '.join(TOOLS)}.")
