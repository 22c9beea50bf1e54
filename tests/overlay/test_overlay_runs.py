"""Running through the worker: stale runs replaced, cancel, model errors, commands, no threads left."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from overlay_helpers import ROOT, FakeHost, explained, open_demo, task_threads

from engine.errors import CancelledError
from plugins.api import Command, Panel, resolve
from plugins.explain_overlay import panel as panel_module
from plugins.explain_overlay.manifest import MANIFEST
from plugins.explain_overlay.panel import HEATMAP_LAYER


def _record(state, field="explanation"):
    seen: list = []
    state.subscribe(field, lambda v: seen.append(v) if v is not None else None)
    return seen


def test_a_newer_run_replaces_a_stale_one(qtbot, ready, monkeypatch):
    panel, state = ready, ready.host.state
    real = panel_module.explain
    gate = threading.Event()
    stale_finished = threading.Event()

    def gated(model, image, method, **kw):
        if method == "xgradcam":  # the first, slow request: ignores cancel until released
            gate.wait(10)
            out = real(model, image, method=method, **{k: v for k, v in kw.items() if k != "cancel"})
            stale_finished.set()
            return out
        return real(model, image, method=method, **kw)

    monkeypatch.setattr(panel_module, "explain", gated)
    seen = _record(state)
    chooser = panel.method_chooser
    chooser.method.setCurrentIndex(chooser.method.findData("xgradcam"))
    panel.run()
    chooser.method.setCurrentIndex(chooser.method.findData("gradcam"))
    panel.run()  # cancels the first; as a serial task it waits for the first to return
    gate.set()
    qtbot.waitUntil(lambda: state.explanation is not None, timeout=20000)
    qtbot.waitUntil(lambda: not task_threads(), timeout=10000)
    qtbot.wait(50)
    assert stale_finished.is_set()
    assert [r.method for r in seen] == ["gradcam"]


def test_cancel_stops_a_running_explanation(qtbot, ready, monkeypatch):
    panel, state = ready, ready.host.state
    steps: list[int] = []

    def slow(model, image, method, cancel=None, progress=None, **kw):
        for i in range(2000):
            if cancel():
                raise CancelledError("cancelled")
            progress(i / 2000, "working")
            steps.append(i)
            time.sleep(0.005)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(panel_module, "explain", slow)
    panel.run()
    qtbot.waitUntil(lambda: len(steps) > 5, timeout=5000)
    assert panel.is_busy() and panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not task_threads(), timeout=5000)
    assert not panel.is_busy() and not panel.cancel_button.isEnabled()
    assert len(steps) < 2000
    assert state.explanation is None and panel.host.errors == []
    assert panel.progress_bar.format() == "cancelled"
    monkeypatch.undo()
    assert explained(qtbot, panel).method == "gradcam"  # the panel keeps working


def test_explanation_of_a_previous_image_is_not_shown(qtbot, ready):
    panel, state = ready, ready.host.state
    panel.run()
    open_demo(panel.host, "phantom_00004")  # before the result arrives
    qtbot.waitUntil(lambda: not task_threads(), timeout=20000)
    qtbot.wait(50)
    assert state.explanation is None
    assert HEATMAP_LAYER not in panel.host.canvas.overlays


def test_a_bad_model_folder_shows_an_error_and_the_panel_keeps_working(qtbot, ready, tmp_path):
    panel, state = ready, ready.host.state
    model = state.model
    bad = tmp_path / "not-a-bundle"
    bad.mkdir()
    (bad / "model.json").write_text("{not json", encoding="utf-8")
    panel.model_chooser.requested.emit(str(bad))
    qtbot.waitUntil(lambda: bool(panel.host.errors), timeout=10000)
    title, message = panel.host.errors[0]
    assert "model" in title.lower() and "not-a-bundle" in message
    assert state.model is model
    assert panel.model_chooser.current_source() == "default"
    assert "model" not in panel.host.settings.values or panel.host.settings.values["model"] == "default"
    assert explained(qtbot, panel).model["name"] == model.name


def test_panel_loads_the_default_model_itself_and_runs_when_ready(qtbot, host, make_panel):
    open_demo(host, "phantom_00000")
    panel = make_panel()
    panel.run()  # the model is still loading: the run waits for it
    qtbot.waitUntil(lambda: host.state.explanation is not None, timeout=30000)
    assert host.state.model is not None
    assert host.state.model.name in panel.model_chooser.model_label.text()
    assert host.state.model.version in panel.model_chooser.model_label.text()
    assert "not for diagnostic use" in panel.model_chooser.notice.text()


def test_manifest_contributions_resolve_and_the_command_finds_the_panel(qtbot, ready, make_panel):
    panels = {c.id: c for c in MANIFEST.of_type(Panel)}
    commands = {c.id: c for c in MANIFEST.of_type(Command)}
    assert panels["explanation"].title == "Explanation" and panels["explanation"].area == "right"
    assert commands["explanation.run"].shortcut == "Ctrl+E"
    assert commands["explanation.run"].title == "Explain image"
    factory = resolve(panels["explanation"].factory)
    host = ready.host
    command = resolve(commands["explanation.run"].callback)
    command(host)  # finds the fixture's panel (made by the same factory)
    qtbot.waitUntil(lambda: host.state.explanation is not None, timeout=20000)
    assert factory is not None and ready.probability_table.rowCount() == len(host.state.model.class_names)


def test_run_command_creates_a_panel_when_none_exists(qtbot, default_model, make_panel, host):
    from plugins.explain_overlay.commands import panel_for, run_explanation

    other = FakeHost(host.window)
    other.state.update(model=default_model)
    open_demo(other, "phantom_00005")
    assert panel_for(other, create=False) is None
    run_explanation(other)
    created = panel_for(other, create=False)
    assert created is not None and created.parent() is other.window
    qtbot.waitUntil(lambda: other.state.explanation is not None, timeout=20000)
    created.runner.shutdown(5000)


def test_manifest_module_imports_nothing_heavy():
    code = ("import sys, plugins.explain_overlay.manifest as m; "
            "heavy = [n for n in ('torch', 'PySide6', 'pyqtgraph', 'numpy', 'viewer') if n in sys.modules]; "
            "assert not heavy, heavy; print(m.MANIFEST.name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_choosing_another_bundle_re_explains_with_it(qtbot, ready, tmp_path):
    import dataclasses

    from engine.models.bundle import save_bundle

    panel, state = ready, ready.host.state
    first = explained(qtbot, panel)
    base = state.model
    manifest = dataclasses.replace(base.manifest, name="Copy of the phantom model", version="9.9")
    folder = save_bundle(tmp_path / "copy", base.module, manifest)
    panel.model_chooser.requested.emit(str(folder))
    qtbot.waitUntil(lambda: state.explanation is not None and state.explanation is not first
                    and state.explanation.model["name"] == "Copy of the phantom model", timeout=20000)
    assert state.model.version == "9.9"
    assert "Copy of the phantom model 9.9" in panel.model_chooser.model_label.text()
    assert panel.host.settings.values["model"] == str(folder)
    assert panel.model_chooser.current_source() == str(folder)
    # same weights, so the same probabilities: the copy is a faithful bundle
    assert state.explanation.probabilities == pytest.approx(first.probabilities, abs=1e-5)


def test_an_engine_error_is_shown_and_the_panel_recovers(qtbot, ready, monkeypatch):
    from engine.errors import ExplainError

    panel = ready

    def broken(*_a, **_k):
        raise ExplainError("Grad-CAM produced non-finite values; try precision='fp32'.")

    monkeypatch.setattr(panel_module, "explain", broken)
    panel.run()
    qtbot.waitUntil(lambda: bool(panel.host.errors), timeout=5000)
    assert "non-finite" in panel.host.errors[0][1]
    assert panel.progress_bar.format() == "failed" and not panel.is_busy()
    monkeypatch.undo()
    assert explained(qtbot, panel) is not None


def test_score_line_states_probability_against_threshold(qtbot, ready):
    panel, state = ready, ready.host.state
    result = explained(qtbot, panel)
    name = state.selected_class
    i = result.class_names.index(name)
    text = panel.score_label.text()
    assert name in text and f"{result.probabilities[i]:.3f}" in text and f"{result.thresholds[i]:.3f}" in text


def test_destroying_the_panel_unsubscribes_and_stops_its_threads(qtbot, host, default_model):
    from plugins.explain_overlay.commands import create_panel, panel_for

    host.state.update(model=default_model)
    open_demo(host, "phantom_00002")
    before = {k: len(v) for k, v in host.state._subscribers.items()}
    panel = create_panel(host)
    assert panel_for(host, create=False) is panel
    assert sum(len(v) for v in host.state._subscribers.values()) > sum(before.values())
    panel.run()
    panel.deleteLater()
    qtbot.waitUntil(lambda: panel_for(host, create=False) is None, timeout=5000)
    qtbot.waitUntil(lambda: not task_threads(), timeout=10000)
    assert {k: len(v) for k, v in host.state._subscribers.items()} == before


def test_a_saved_model_folder_that_is_gone_falls_back_to_the_default(qtbot, host, make_panel, tmp_path):
    host.settings.set("model", str(tmp_path / "deleted-bundle"))
    panel = make_panel()
    qtbot.waitUntil(lambda: host.state.model is not None, timeout=30000)
    assert len(host.errors) == 1 and "deleted-bundle" in host.errors[0][1]
    assert panel.model_chooser.current_source() == "default"
    assert host.settings.values["model"] == "default"
