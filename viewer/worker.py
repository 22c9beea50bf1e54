"""Long work off the GUI thread: the app's one job system, a keyed, cancellable task runner.

``TaskRunner.submit(key, fn, on_done, on_error, on_progress)`` runs ``fn(cancelled, progress)``
on a Python thread and delivers its result, error and progress on the GUI thread through a
queued Qt signal. Tasks are grouped by ``key``: a newer submit with the same key cancels the
older task (its ``cancelled()`` turns True) and whatever the older one still produces (result,
error, progress) is dropped, so a slow stale request can never overwrite a newer one.

``fn`` should poll ``cancelled()`` between steps (the engine's ``explain(..., cancel=...)``
does) and may call ``progress(fraction, message)`` as often as it likes. A cancelled task that
ends by raising :class:`engine.errors.CancelledError` is not reported as an error.

``submit(..., serial=True)`` starts the task only when the key's older tasks have returned (their
threads ended); a serial task that is superseded while it waits never runs at all. The live
perturbation slider uses it, so a burst of moves runs the model for the newest one only.

The study browser (folder scans, thumbnails), opening (the start-up model) and every plugin (through
``ViewerHost.task_runner``) use this runner. Running a model from two tasks at once is safe: the
engine takes a per-model lock around hooked model use.

:func:`shutdown_all` cancels and joins every live runner; the main window calls it on close so
that no thread outlives the app.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from engine.errors import CancelledError

log = logging.getLogger(__name__)

T = TypeVar("T")
CancelledFn = Callable[[], bool]
ProgressFn = Callable[[float, str], None]

_LIVE: weakref.WeakSet[TaskRunner] = weakref.WeakSet()
_IDS = itertools.count(1)


@dataclass
class _Task:
    """One submitted task and the callbacks that receive what it produces."""

    id: int
    key: str
    on_done: Callable[[Any], None]
    on_error: Callable[[BaseException], None] | None
    on_progress: ProgressFn | None
    after: list[threading.Thread] = field(default_factory=list)  # serial: the key's older tasks' threads
    cancel_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class TaskRunner(QObject):
    """Runs keyed tasks on worker threads; callbacks run on the thread that owns the runner.

    Signals:
        busyChanged(str, bool): a key started (True) or stopped (False) having a current task.
    """

    busyChanged = Signal(str, bool)
    _delivered = Signal(int, str, object)  # task id, "done" | "error" | "progress", payload

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[int, _Task] = {}  # every task whose thread may still run
        self._current: dict[str, int] = {}  # key -> id of the task whose results are wanted
        self._ending: list[threading.Thread] = []  # delivered tasks whose threads may not have returned yet
        self._key_threads: dict[str, list[threading.Thread]] = {}  # key -> threads of its tasks (serial tasks)
        self._lock = threading.Lock()
        self._closed = False
        self._delivered.connect(self._deliver)  # queued: emitted from worker threads
        _LIVE.add(self)

    # --- public API ------------------------------------------------------------------------
    def submit(
        self,
        key: str,
        fn: Callable[[CancelledFn, ProgressFn], T],
        on_done: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: ProgressFn | None = None,
        serial: bool = False,
    ) -> int:
        """Start ``fn(cancelled, progress)`` off the GUI thread; returns the task id.

        A task already running under ``key`` is cancelled and its results are dropped.

        Args:
            key: Tasks of one key replace each other (the newest is the one delivered).
            fn: The work; polls ``cancelled()`` and may report ``progress(fraction, message)``.
            on_done: Receives the result on the GUI thread.
            on_error: Receives the exception on the GUI thread (else it is logged).
            on_progress: Receives ``(fraction, message)`` on the GUI thread.
            serial: Start ``fn`` only after the key's older tasks have returned; if this task is
                replaced or cancelled while it waits, ``fn`` never runs.

        Raises:
            RuntimeError: The runner has been shut down.
        """
        if self._closed:
            raise RuntimeError("this TaskRunner has been shut down; it accepts no new work.")
        task = _Task(next(_IDS), key, on_done, on_error, on_progress)
        with self._lock:
            older = [t for t in self._key_threads.get(key, []) if t.is_alive()]
            if serial:
                task.after = older
            old = self._current.get(key)
            if old is not None and old in self._tasks:
                self._tasks[old].cancel_event.set()
            self._current[key] = task.id
            self._tasks[task.id] = task
        task.thread = threading.Thread(
            target=self._run, args=(task, fn), name=f"radlens-task-{key}-{task.id}", daemon=True
        )
        with self._lock:
            self._key_threads[key] = [*older, task.thread]
        task.thread.start()
        if old is None:
            self.busyChanged.emit(key, True)
        return task.id

    def cancel(self, key: str) -> None:
        """Cancel the current task of ``key`` (nothing of it will be delivered)."""
        with self._lock:
            tid = self._current.pop(key, None)
            if tid is not None and tid in self._tasks:
                self._tasks[tid].cancel_event.set()
        if tid is not None:
            self.busyChanged.emit(key, False)

    def is_busy(self, key: str | None = None) -> bool:
        """Whether ``key`` (or any key) has a task whose result is still awaited."""
        with self._lock:
            return bool(self._current) if key is None else key in self._current

    def running_threads(self) -> int:
        """Worker threads still alive, including cancelled ones that have not returned yet."""
        with self._lock:
            threads = [t.thread for t in self._tasks.values() if t.thread is not None] + self._ending
            return sum(1 for t in threads if t.is_alive())

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel every task, wait for their threads up to ``timeout_ms``, accept no new work."""
        self._closed = True
        with self._lock:
            tasks = list(self._tasks.values())
            ending = list(self._ending)
            keys = list(self._current)
            self._current.clear()
            for task in tasks:
                task.cancel_event.set()
        deadline = time.monotonic() + timeout_ms / 1000.0
        for task in tasks:
            if task.thread is not None:
                task.thread.join(max(0.0, deadline - time.monotonic()))
                if task.thread.is_alive():
                    log.warning("task %r did not stop within %d ms of being cancelled", task.key, timeout_ms)
        for thread in ending:  # delivered already; they only have to return
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for task in tasks:
                if task.thread is None or not task.thread.is_alive():
                    self._tasks.pop(task.id, None)
        _LIVE.discard(self)
        for key in keys:
            try:
                self.busyChanged.emit(key, False)
            except RuntimeError:  # the C++ side is already gone (app teardown)
                pass

    # --- internals ---------------------------------------------------------------------------
    def _run(self, task: _Task, fn: Callable[[CancelledFn, ProgressFn], Any]) -> None:
        event = task.cancel_event

        def progress(fraction: float, message: str = "") -> None:
            if not event.is_set():
                self._emit(task.id, "progress", (float(fraction), str(message)))

        if task.after:  # serial: the key's older tasks first; give up once replaced
            for thread in task.after:
                while thread.is_alive() and not event.is_set():
                    thread.join(0.02)
            if event.is_set():
                self._emit(task.id, "error", CancelledError("replaced before it started."))
                return
        try:
            result = fn(event.is_set, progress)
        except BaseException as exc:  # delivered to on_error on the GUI thread
            self._emit(task.id, "error", exc)
        else:
            self._emit(task.id, "done", result)

    def _emit(self, task_id: int, kind: str, payload: Any) -> None:
        try:
            self._delivered.emit(task_id, kind, payload)
        except RuntimeError:  # the runner's QObject was deleted while the task ran
            pass

    @Slot(int, str, object)
    def _deliver(self, task_id: int, kind: str, payload: Any) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return
            wanted = self._current.get(task.key) == task_id and not task.cancel_event.is_set()
            if kind != "progress":
                self._tasks.pop(task_id, None)
                self._ending = [t for t in self._ending if t.is_alive()]
                if task.thread is not None and task.thread.is_alive():
                    self._ending.append(task.thread)
                if wanted:
                    del self._current[task.key]
        if kind == "progress":
            if wanted and task.on_progress is not None:
                self._call(task.on_progress, *payload)
            return
        if wanted:
            self.busyChanged.emit(task.key, False)
        if not wanted:
            return
        if kind == "done":
            self._call(task.on_done, payload)
        elif isinstance(payload, CancelledError) and task.cancel_event.is_set():
            return
        elif task.on_error is not None:
            self._call(task.on_error, payload)
        else:
            log.error("task %r failed", task.key, exc_info=payload)

    @staticmethod
    def _call(callback: Callable[..., Any], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a failing callback must not break delivery of other tasks
            log.exception("a TaskRunner callback failed")


def shutdown_all(timeout_ms: int = 10000) -> None:
    """Cancel and join the tasks of every live :class:`TaskRunner` (called on app close)."""
    for runner in list(_LIVE):
        try:
            runner.shutdown(timeout_ms)
        except RuntimeError:  # its QObject is already deleted; its threads are daemons
            log.debug("a TaskRunner was already deleted at shutdown")


def live_runners() -> int:
    """How many runners have not been shut down (for tests and diagnostics)."""
    return len(_LIVE)
