"""``ModelManifest`` imports and reads a bundle without torch (the status bar's path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import BundleManifestError, ModelError
from engine.models.manifest import ModelManifest, default_bundle_path

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_imports_and_reads_the_default_bundle_without_torch() -> None:
    code = (
        "import sys\n"
        "import engine.models.manifest as m\n"
        "assert 'torch' not in sys.modules, 'importing the manifest imported torch'\n"
        "man = m.ModelManifest.from_bundle('default')\n"
        "from engine.models import ModelManifest\n"
        "import engine.models.lock\n"
        "assert 'torch' not in sys.modules, 'reading a manifest imported torch'\n"
        "print(man.name, man.version)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = json.loads((default_bundle_path() / "model.json").read_text(encoding="utf-8"))
    assert out.stdout.strip() == f"{expected['name']} {expected['version']}"


def test_from_bundle_takes_a_folder_or_its_model_json(tmp_path: Path) -> None:
    from shared_models import make_manifest

    man = make_manifest("resnet18", 2, 64)
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(man.to_dict()), encoding="utf-8")
    assert ModelManifest.from_bundle(folder) == man
    assert ModelManifest.from_bundle(folder / "model.json") == man
    with pytest.raises(ModelError, match="model bundle not found"):
        ModelManifest.from_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleManifestError, match=r"model\.json not found"):
        ModelManifest.from_bundle(tmp_path / "empty")
