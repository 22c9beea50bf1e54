"""`radlens` with no arguments: until the viewer lands, the headless run on the bundled model and demo."""

from __future__ import annotations

import json

from viewer.cli import main


def test_no_arguments_explains_the_demo_study_with_the_default_model(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["model"]["name"] == "RadLens phantom ResNet-18"
    assert len(doc["images"]) == 6 and all("error" not in e for e in doc["images"])
    assert "not built yet" in capsys.readouterr().err


def test_screenshot_needs_the_viewer(capsys):
    assert main(["view", "--screenshot", "x.png"]) == 2
