"""The wheel and the sdist carry RadLens's resources (issue #18): every file under resources/ (every
model bundle, the demo study, the presets, the icons), the version from pyproject.toml. That the
installed wheel works from outside the checkout (``radlens explain`` on the installed demo study,
``radlens view --screenshot`` offscreen) is shown by tests/install/test_linux_installer.py, which
installs this wheel into a fresh virtual environment under a temporary prefix."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from install_helpers import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _resource_files() -> set[str]:
    """Every file the checkout has under resources/ (what the wheel must carry), found independently."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith((".radlens.json", ".pyc"))}


def test_wheel_holds_every_resource(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        meta = wheel.read(f"radlens-{VERSION}.dist-info/METADATA").decode()
    assert _resource_files() <= names
    assert {"resources/models/phantom-resnet18/weights.safetensors", "resources/demo/train.csv"} <= names
    assert not any(n.endswith(".radlens.json") for n in names)
    assert f"Version: {VERSION}" in meta


def test_sdist_holds_every_resource(built: dict[str, Path], tmp_path: Path) -> None:
    code = "import sys; from setuptools.build_meta import build_sdist; print(build_sdist(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=built["src"], check=True,
                   capture_output=True, timeout=120)
    (sdist,) = tmp_path.glob("radlens-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.partition("/")[2] for n in tar.getnames()}
    assert _resource_files() <= names
