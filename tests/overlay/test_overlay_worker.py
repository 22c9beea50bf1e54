"""The keyed task runner: stale results dropped, cancellation, errors, progress, clean shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import CancelledError
from viewer.worker import TaskRunner, live_runners, shutdown_all


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("radlens-task-")]


@pytest.fixture()
def runner(qtbot):
    r = TaskRunner()
    yield r
    r.shutdown(5000)
    assert r.running_threads() == 0


def test_result_and_progress_are_delivered_on_the_gui_thread(qtbot, runner):
    gui = threading.get_ident()
    seen: dict[str, object] = {}
    progress: list[float] = []

    def fn(cancelled, report):
        seen["worker_thread"] = threading.get_ident()
        for i in range(3):
            report((i + 1) / 3, f"step {i}")
        return 42

    def done(value):
        seen["done_thread"] = threading.get_ident()
        seen["value"] = value

    runner.submit("k", fn, done, on_progress=lambda f, _m: progress.append(f))
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["done_thread"] == gui != seen["worker_thread"]
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert not runner.is_busy("k")


def test_newer_submit_drops_the_stale_result(qtbot, runner):
    release = threading.Event()
    got: list[str] = []

    def slow(cancelled, _p):
        release.wait(5)  # ignores cancellation on purpose: its result must still be dropped
        return "stale"

    runner.submit("k", slow, got.append)
    runner.submit("k", lambda c, p: "fresh", got.append)
    qtbot.waitUntil(lambda: got == ["fresh"], timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: runner.running_threads() == 0, timeout=5000)
    qtbot.wait(50)  # let any queued delivery of the stale task through
    assert got == ["fresh"]


def test_other_keys_are_independent(qtbot, runner):
    got: dict[str, int] = {}
    runner.submit("a", lambda c, p: 1, lambda v: got.__setitem__("a", v))
    runner.submit("b", lambda c, p: 2, lambda v: got.__setitem__("b", v))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got == {"a": 1, "b": 2}


def test_cancel_stops_a_task_that_polls(qtbot, runner):
    steps: list[int] = []
    done: list[object] = []
    errors: list[BaseException] = []

    def long(cancelled, _p):
        for i in range(1000):
            if cancelled():
                raise CancelledError("stopped")
            steps.append(i)
            time.sleep(0.01)
        return "finished"

    runner.submit("k", long, done.append, errors.append)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    assert runner.is_busy("k")
    runner.cancel("k")
    assert not runner.is_busy("k")
    qtbot.waitUntil(lambda: runner.running_threads() == 0, timeout=3000)
    qtbot.wait(30)
    assert len(steps) < 1000
    assert done == [] and errors == []  # a cancelled task is neither a result nor an error


def test_error_is_delivered(qtbot, runner):
    errors: list[BaseException] = []

    def boom(_c, _p):
        raise ValueError("bad input")

    runner.submit("k", boom, lambda v: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError) and "bad input" in str(errors[0])


def test_busy_signal(qtbot, runner):
    release = threading.Event()
    with qtbot.waitSignal(runner.busyChanged, timeout=2000) as blocker:
        runner.submit("k", lambda c, p: release.wait(5), lambda v: None)
    assert blocker.args == ["k", True]
    with qtbot.waitSignal(runner.busyChanged, timeout=5000) as blocker:
        release.set()
    assert blocker.args == ["k", False]


def test_shutdown_joins_every_thread_and_refuses_new_work(qtbot):
    before = live_runners()
    runners = [TaskRunner() for _ in range(2)]
    assert live_runners() == before + 2

    def polls(cancelled, _p):
        while not cancelled():
            time.sleep(0.005)
        raise CancelledError("stopped")

    for r in runners:
        r.submit("a", polls, lambda v: None)
        r.submit("b", polls, lambda v: None)
    assert len(_worker_threads()) >= 4
    shutdown_all(5000)
    assert all(r.running_threads() == 0 for r in runners)
    assert _worker_threads() == []
    assert live_runners() == before
    with pytest.raises(RuntimeError):
        runners[0].submit("a", polls, lambda v: None)


def test_serial_tasks_wait_for_older_ones_and_replaced_ones_never_run(qtbot, runner):
    """``serial=True``: the newest task starts after every older task of its key has returned; the
    ones replaced while they waited never call their function."""
    release = threading.Event()
    ran: list[str] = []
    got: list[str] = []

    def first(_c, _p):
        ran.append("first")
        release.wait(5)  # ignores cancellation: a model run that cannot stop mid-forward
        return "first"

    def later(name):
        def fn(_c, _p):
            ran.append(name)
            return name
        return fn

    runner.submit("k", first, got.append, serial=True)
    qtbot.waitUntil(lambda: ran == ["first"], timeout=5000)
    for name in ("a", "b", "c"):
        runner.submit("k", later(name), got.append, serial=True)
    qtbot.wait(100)
    assert ran == ["first"]  # "c" waits for "first"; "a" and "b" were replaced while waiting
    release.set()
    qtbot.waitUntil(lambda: got == ["c"], timeout=5000)
    qtbot.waitUntil(lambda: runner.running_threads() == 0, timeout=5000)
    assert ran == ["first", "c"] and got == ["c"]


def test_a_task_that_is_not_serial_starts_at_once(qtbot, runner):
    release = threading.Event()
    got: list[str] = []
    runner.submit("k", lambda c, p: release.wait(5) and "slow", got.append)
    runner.submit("k", lambda c, p: "fresh", got.append, serial=False)
    qtbot.waitUntil(lambda: got == ["fresh"], timeout=5000)
    release.set()
