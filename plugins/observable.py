"""One observable base for the app's plain-Python state objects (no Qt).

:class:`viewer.state.ViewerState`, :class:`viewer.canvas_model.CanvasModel` and the explanation
overlay's :class:`plugins.api.OverlayDisplay` derive from :class:`Observable`: a fixed set of
fields (``FIELDS``), changed only through :meth:`Observable.update`, which notifies the
subscribers of the fields that really changed, in subscription order. It lives beside the plugin
API because plugins observe these objects through the host; the viewer imports it from here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from engine.errors import RadLensError

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
Listener = Callable[[str, Any], None]
Unsubscribe = Callable[[], None]


class UnknownFieldError(RadLensError, KeyError):
    """A name that is not a field of the observable (the message lists the fields)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self._compose()


class FieldValueError(RadLensError, ValueError):
    """A value the field does not allow (the message says which values it does)."""


def same_value(old: object, new: object) -> bool:
    """Whether setting ``new`` over ``old`` is no change: the same object, or equal and of one type."""
    if old is new:
        return True
    try:
        equal = bool(old == new)
    except Exception:  # arrays and other objects without a plain truth value
        return False
    return equal and type(old) is type(new)


class Observable:
    """Fields named in ``FIELDS``; :meth:`update` changes them and notifies the observers.

    Two ways to observe: :meth:`subscribe` (one field, ``callback(value)``) and :meth:`listen`
    (every field, ``callback(name, value)``). Field subscribers run before listeners. An observer
    that raises is logged and does not stop the others.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = {name: [] for name in self.FIELDS}
        self._listeners: list[Listener] = []

    # --- observing -------------------------------------------------------------------------------
    def subscribe(self, field_name: str, callback: Callback) -> Unsubscribe:
        """Call ``callback(new_value)`` after ``field_name`` changes; returns an unsubscribe function.

        Raises:
            KeyError: There is no such field (the message lists the fields).
        """
        if field_name not in self._subscribers:
            raise UnknownFieldError(f"{type(self).__name__} has no field {field_name!r}.",
                                    fix=f"use one of: {', '.join(self.FIELDS)}.")
        subscribers = self._subscribers[field_name]
        subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)

        return unsubscribe

    def listen(self, callback: Listener) -> Unsubscribe:
        """Call ``callback(field, value)`` after any field changes; returns an unsubscribe function."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    # --- changing --------------------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        """Set several fields, then notify the observers of each field that changed.

        Raises:
            UnknownFieldError: A name is not a field (a KeyError; nothing is changed).
            FieldValueError: A value is not allowed (a ValueError, see :meth:`validate`; nothing is changed).
        """
        self.check_fields(changes)
        for name, value in changes.items():
            self.validate(name, value)
        changed = []
        for name, value in changes.items():
            if same_value(self._get(name), value):
                continue
            self._set(name, value)
            changed.append(name)
        for name in changed:
            self.notify(name, self._get(name))

    def check_fields(self, changes: dict[str, Any]) -> None:
        """Raise :class:`UnknownFieldError` when a name of ``changes`` is not a field."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise UnknownFieldError(f"{type(self).__name__} has no field(s) {sorted(unknown)}.",
                                    fix=f"use one of: {', '.join(self.FIELDS)}.")

    def validate(self, name: str, value: Any) -> None:
        """Raise :class:`FieldValueError` when ``value`` is not allowed for ``name`` (subclasses override)."""

    def notify(self, name: str, value: Any) -> None:
        """Tell the observers that ``name`` is now ``value``."""
        for callback in list(self._subscribers.get(name, ())):
            try:
                callback(value)
            except Exception:
                log.exception("a subscriber of %s.%s failed", type(self).__name__, name)
        for listener in list(self._listeners):
            try:
                listener(name, value)
            except Exception:
                log.exception("a listener of %s failed on %r", type(self).__name__, name)

    # --- storage (subclasses may keep a field elsewhere) ---------------------------------------
    def _get(self, name: str) -> Any:
        return getattr(self, name)

    def _set(self, name: str, value: Any) -> None:
        setattr(self, name, value)
