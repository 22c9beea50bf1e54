"""A bundle's recommended method (model.json ``method``): the panel takes it when the bundle is
loaded and gives the user's own choice back for bundles without one; the CLI uses it by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from shared_models import TinyNet, make_manifest

from engine.errors import BundleManifestError
from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest
from engine.resources import models_dir


def _model(method: str | None) -> LoadedModel:
    torch.manual_seed(0)
    manifest = make_manifest("tiny", 3, 32, method=method, target_layer="features")
    return LoadedModel.from_module(TinyNet(), manifest)


def test_manifest_validates_and_writes_the_method_only_when_set() -> None:
    with_method = {**make_manifest("resnet18", 2, 64).to_dict(), "method": "layercam"}
    assert ModelManifest.from_dict(with_method).method == "layercam"
    assert "method" not in make_manifest("resnet18", 2, 64).to_dict()  # bundles without one stay as they were
    with pytest.raises(BundleManifestError, match="method must be"):
        ModelManifest.from_dict({**make_manifest("resnet18", 2, 64).to_dict(), "method": 3})


def test_the_bundled_ctr_model_recommends_layercam() -> None:
    """docs/regression.md: its "raises the ratio" evidence is on the heart borders with LayerCAM, not Grad-CAM."""
    data = json.loads((models_dir() / "phantom-ctr-resnet18" / "model.json").read_text())
    assert data["method"] == "layercam" and data["target_layer"] == "layer3"


def test_panel_takes_the_recommended_method_and_gives_the_users_back(qtbot: Any, host: Any, make_panel: Any) -> None:
    panel = make_panel()
    chooser = panel.method_chooser
    host.state.update(model=_model(None))
    qtbot.waitUntil(lambda: chooser.layers.count() > 0, timeout=10000)
    assert chooser.method_name() == "gradcam"
    host.state.update(model=_model("layercam"))
    qtbot.waitUntil(lambda: chooser.method_name() == "layercam", timeout=10000)
    host.state.update(model=_model(None))
    qtbot.waitUntil(lambda: chooser.method_name() == "gradcam", timeout=10000)
    chooser.method.setCurrentIndex(chooser.method.findData("xgradcam"))  # the user's own choice, saved
    host.state.update(model=_model("layercam"))
    qtbot.waitUntil(lambda: chooser.method_name() == "layercam", timeout=10000)
    host.state.update(model=_model(None))
    qtbot.waitUntil(lambda: chooser.method_name() == "xgradcam", timeout=10000)
    assert host.errors == []


def test_cli_explains_with_the_bundles_method_unless_told_otherwise(tmp_path: Path) -> None:
    from engine.cli import explain as cli
    from engine.resources import demo_images

    image = demo_images() / "phantom_00005.dcm"
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    for extra, want in (([], "layercam"), (["--method", "gradcam"], "gradcam")):
        out = tmp_path / want
        args = parser.parse_args([str(image), "--model", str(models_dir() / "phantom-ctr-resnet18"), "--out", str(out),
                                  "--alignment", "resize", *extra])
        assert cli.run(args) == 0
        doc = json.loads((out / "results.json").read_text())
        assert doc["method"] == want and doc["images"][0]["explanation"]["method"] == want
