"""Small background jobs of the viewer core (folder scans, thumbnails, the start-up model load).

Each job is a plain ``threading.Thread``; its result comes back to the GUI thread through a Qt
signal (queued across threads). :meth:`Jobs.join` waits for all of them: the main window calls it
on close so that no thread outlives the window. A job checks ``jobs.stopping`` to end early.
(The explanation work of plugins uses ``viewer.worker.TaskRunner`` instead.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

log = logging.getLogger(__name__)


class _Relay(QtCore.QObject):
    done = QtCore.Signal(object, object)  # (callback, value)


class Jobs(QtCore.QObject):
    """Runs callables off the GUI thread and delivers their results on it."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._relay = _Relay()
        self._relay.done.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def submit(
        self,
        name: str,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``fn()`` in a thread; ``on_done(result)`` or ``on_error(exc)`` run on the GUI thread."""

        def run() -> None:
            try:
                value = fn()
            except BaseException as exc:
                if on_error is None:
                    log.exception("background job %s failed", name)
                else:
                    self._relay.done.emit(on_error, exc)
                return
            if not self._stop.is_set():
                self._relay.done.emit(on_done, value)

        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=run, name=f"radlens-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _deliver(self, callback: Callable[[Any], None], value: Any) -> None:
        if self._stop.is_set():
            return
        try:
            callback(value)
        except Exception:
            log.exception("a background job's callback failed")

    def join(self, timeout_s: float = 30.0) -> None:
        """Stop delivering results and wait for every thread to end."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("background jobs still running after %.0f s: %s", timeout_s, [t.name for t in self._threads])
