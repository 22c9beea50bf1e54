"""The "Export report…" command: writes what the viewer shows, off the GUI thread, and reports errors."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import pytest
from report_plugin_helpers import FakeHost

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
IMAGE = DEMO / "images" / "phantom_00000.dcm"


@pytest.fixture(scope="module")
def explained() -> dict[str, Any]:
    """A real explain run of the default model on the demo study."""
    import engine
    from engine.annotations import read_annotations
    from engine.io import load_image

    model = engine.load_model("default")
    image = load_image(IMAGE)
    result = engine.explain(model, image, "gradcam")
    gt = read_annotations(DEMO / "train.csv")["phantom_00000"]
    return {"model": model, "image": image, "result": result, "gt": gt}


@pytest.fixture()
def host(qtbot, explained) -> FakeHost:
    from PySide6.QtWidgets import QMainWindow

    from engine.analysis import localise
    from engine.annotations import AnnotationSet, BoxAnnotation, Source

    window = QMainWindow()
    qtbot.addWidget(window)
    h = FakeHost(window)
    s = h.state
    s.open_image(explained["image"], IMAGE, explained["gt"], AnnotationSet())
    mine = BoxAnnotation("Pneumothorax", 80, 70, 230, 290, "me", Source.USER)
    s.edit_user_boxes(AnnotationSet(boxes=(mine,)), "draw")
    loc = localise(explained["result"], "max:0.5", explained["gt"].merged(s.user_boxes), classes=["Pneumothorax"])
    s.update(model=explained["model"], explanation=explained["result"], selected_class="Pneumothorax",
             threshold="max:0.5", localisation=loc["Pneumothorax"])
    yield h
    from plugins.report_export import export

    runner = export.runner()
    if runner is not None:
        runner.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("radlens-task-report")]


@pytest.fixture()
def dialog(monkeypatch) -> list[Any]:
    """Replace the save dialog: answers with ``answer[0]`` and records its calls."""
    from plugins.report_export import export

    calls: list[Any] = []
    answer = [""]

    def fake(parent, title, start, filters):
        calls.append((parent, title, start, filters))
        return answer[0], filters

    monkeypatch.setattr(export.QFileDialog, "getSaveFileName", staticmethod(fake))
    calls.append(answer)
    return calls


def _text(path: Path) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(str(path)).pages)


def test_export_writes_what_is_on_screen(qtbot, host, dialog, tmp_path):
    from plugins.report_export.export import export_report

    answer = dialog[0]
    answer[0] = str(tmp_path / "mine")  # no suffix: .pdf is added
    export_report(host)
    out = tmp_path / "mine.pdf"
    qtbot.waitUntil(lambda: any(s.startswith("Report written") for s in host.statuses), timeout=60000)
    assert host.errors == [] and out.is_file()
    _, title, start, _ = dialog[1]
    assert title == "Export report" and start.endswith("radlens-report-phantom_00000-Pneumothorax.pdf")
    text = _text(out)
    loc = host.state.localisation
    assert "Pneumothorax Probability" in text and "Cardiomegaly Probability" not in text  # the selected class only
    assert "max:0.5" in text and "Your boxes (1)" in text and f"Your boxes, mean {loc.user.mean:.3f}" in text
    assert "PHANTOM^0001" in text and host.settings.get("last_dir") == str(tmp_path)


def test_deidentified_export(qtbot, host, dialog, tmp_path):
    from plugins.report_export.export import export_deidentified_report

    dialog[0][0] = str(tmp_path / "anon.pdf")
    export_deidentified_report(host)
    qtbot.waitUntil(lambda: any(s.startswith("Report written") for s in host.statuses), timeout=60000)
    assert "phantom_00000" not in dialog[1][2]  # not even in the suggested file name
    text = _text(tmp_path / "anon.pdf")
    assert "PHANTOM^0001" not in text and "phantom_00000" not in text and "De-identified" in text


def test_nothing_explained_shows_an_error_and_asks_nothing(host, dialog):
    from plugins.report_export.export import export_report

    host.state.update(explanation=None, localisation=None)
    export_report(host)
    assert len(dialog) == 1  # only the answer holder: the dialog was never opened
    assert host.errors and "Nothing has been explained" in host.errors[0][1] and "Fix:" in host.errors[0][1]


def test_cancelled_dialog_writes_nothing(host, dialog, tmp_path):
    from plugins.report_export.export import export_report

    export_report(host)
    assert host.errors == [] and list(tmp_path.iterdir()) == []


def test_write_failure_is_shown(qtbot, host, dialog, tmp_path):
    from plugins.report_export.export import export_report

    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    dialog[0][0] = str(blocker / "r.pdf")
    export_report(host)
    qtbot.waitUntil(lambda: bool(host.errors), timeout=60000)
    title, message = host.errors[0]
    assert title == "Export report failed" and str(blocker / "r.pdf") in message and "Fix:" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_manifest_declares_the_command_and_imports_only_the_api():
    from plugins.api import Command, resolve
    from plugins.report_export.manifest import MANIFEST

    cmds = {c.id: c for c in MANIFEST.of_type(Command)}
    c = cmds["report.export"]
    assert (c.title, c.menu, c.shortcut) == ("Export report…", "File", "Ctrl+Shift+R")
    assert callable(resolve(c.callback)) and callable(resolve(cmds["report.export_deidentified"].callback))
    tree = ast.parse((ROOT / "plugins" / "report_export" / "manifest.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "plugins.api"}


def test_export_includes_the_perturbation_run_of_the_panel(qtbot, host, dialog, tmp_path, explained):
    """The perturbation lab stores its last run in ``state.perturbation`` (perturb.json schema, built here the way
    the panel builds it: one slider step and a drawn region); the exported report prints its numbers."""
    from engine.perturb import PerturbationLab, Replacement, build_document
    from plugins.report_export.export import export_report

    model, result = explained["model"], explained["result"]
    lab = PerturbationLab(model, explained["image"], model_map=result.map("Pneumothorax", "model"),
                          resolution="model")  # the panel's live steps use "image"; the document is the same
    rep = Replacement.make("mean")
    single = lab.perturb(0.1, "morf", rep)
    box = [80.0, 70.0, 230.0, 290.0]
    region = lab.region(box, rep)
    doc = build_document(model, image=str(IMAGE), target="Pneumothorax", order="morf", replacement=rep,
                         resolution="model", seed=0, original=lab.original, method=result.method, layer="layer4",
                         single=single, region=region, region_box=box)
    host.state.update(perturbation=doc)
    dialog[0][0] = str(tmp_path / "perturbed.pdf")
    export_report(host)
    qtbot.waitUntil(lambda: any(s.startswith("Report written") for s in host.statuses), timeout=60000)
    assert host.errors == []
    text = _text(tmp_path / "perturbed.pdf")
    assert "Perturbation test" in text and "Replacement mean" in text and "Order morf" in text
    assert "Δp 10%" in text  # the slider's fraction is the table's one column
    from engine.report.tables import fmt_delta, fmt_prob

    dp = doc["delta_p"]["by_class"]["Pneumothorax"][0]
    p0 = doc["original"]["Pneumothorax"]
    assert f"Pneumothorax {fmt_prob(p0)} {fmt_delta(dp)}" in text
    assert "Drawn region replaced (box 80, 70, 230, 290)" in text
    rp, rd = doc["region"]["probabilities"]["Pneumothorax"], doc["region"]["delta_p"]["Pneumothorax"]
    assert f"Pneumothorax {fmt_prob(rp)} {fmt_delta(rd)}" in text


def test_export_uses_the_overlay_look_when_the_state_carries_it(qtbot, host, dialog, tmp_path):
    """Colour map and opacity come from the overlay's display state (``state.overlay``), not its widgets."""
    from plugins.report_export.export import export_report

    dialog[0][0] = str(tmp_path / "default.pdf")
    export_report(host)
    qtbot.waitUntil(lambda: any(s.startswith("Report written") for s in host.statuses), timeout=60000)
    assert "opacity 0.45, colour map jet" in _text(tmp_path / "default.pdf")
    host.statuses.clear()
    host.state.overlay.update(colormap="viridis", opacity=0.7)  # what the overlay shows
    dialog[0][0] = str(tmp_path / "look.pdf")
    export_report(host)
    qtbot.waitUntil(lambda: any(s.startswith("Report written") for s in host.statuses), timeout=60000)
    assert host.errors == [] and "opacity 0.7, colour map viridis" in _text(tmp_path / "look.pdf")
