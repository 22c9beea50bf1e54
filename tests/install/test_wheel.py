"""The wheel carries its resources (issue #18): built from the checkout, installed into a fresh venv
outside it (dependencies reused through a .pth, nothing downloaded), and run from a temporary folder:
``radlens explain`` on the installed demo study with the installed default model, and
``radlens view --screenshot`` offscreen. The sdist carries the resources too."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from install_helpers import ROOT, clean_env, fresh_venv, pip_install
from PIL import Image

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _resource_files() -> set[str]:
    """Every file the checkout has under resources/ (what the wheel must carry), found independently."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith((".radlens.json", ".pyc"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, built: dict[str, Path]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("wheel")
    src, wheel = built["src"], built["wheel"]
    python = fresh_venv(base / "venv")
    pip_install(python, str(wheel))
    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    return {"base": base, "src": src, "wheel": wheel, "python": python, "work": work, "home": home,
            "radlens": python.parent / "radlens"}


def test_wheel_holds_every_resource(installed: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert _resource_files() <= names
    assert not any(n.endswith(".radlens.json") for n in names)
    meta = zipfile.ZipFile(installed["wheel"]).read(f"radlens-{VERSION}.dist-info/METADATA").decode()
    assert f"Version: {VERSION}" in meta


def test_sdist_holds_every_resource(installed: dict[str, Path], tmp_path: Path) -> None:
    code = "import sys; from setuptools.build_meta import build_sdist; print(build_sdist(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=installed["src"], check=True,
                   capture_output=True, timeout=120)
    (sdist,) = tmp_path.glob("radlens-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.partition("/")[2] for n in tar.getnames()}
    assert _resource_files() <= names


def test_installed_radlens_explains_and_screenshots_from_outside_the_checkout(installed: dict[str, Path]) -> None:
    python, work = installed["python"], installed["work"]
    env = clean_env(installed["home"], QT_QPA_PLATFORM="offscreen")
    where = subprocess.run([str(python), "-c", "import engine, json; from engine.resources import demo_dir, "
                            "bundle_dirs; from engine.version import version; print(json.dumps([engine.__file__, "
                            "str(demo_dir()), [str(b) for b in bundle_dirs()], version()]))"],
                           cwd=work, env=env, check=True, capture_output=True, text=True, timeout=60)
    engine_file, demo, bundles, version = json.loads(where.stdout)
    venv = installed["base"] / "venv"
    for path in (engine_file, demo, *bundles):
        assert Path(path).is_relative_to(venv), path  # the installed copy, not the checkout
    assert bundles and version == VERSION

    image = Path(demo) / "images" / "phantom_00003.dcm"
    before = sorted(p.name for p in image.parent.iterdir())
    explain = subprocess.Popen([str(installed["radlens"]), "explain", str(image), "--annotations",
                                str(Path(demo) / "train.csv"), "--classes", "Pneumothorax", "--out", "out"],
                               cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shot = subprocess.Popen([str(installed["radlens"]), "view", "--screenshot", "shot.png", "--size", "1000x700"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    explain_out, _ = explain.communicate(timeout=180)
    shot_out, _ = shot.communicate(timeout=180)
    assert explain.returncode == 0, explain_out
    assert shot.returncode == 0, shot_out

    doc = json.loads((work / "out" / "results.json").read_text())
    assert Path(doc["model"]["path"]).is_relative_to(venv)
    (entry,) = doc["images"]
    assert entry["explanation"]["versions"]["radlens"] == VERSION
    assert [p.name for p in (work / "out").glob("phantom_00003.dcm.*.png")] == ["phantom_00003.dcm.pneumothorax.png"]
    with Image.open(work / "shot.png") as png:
        assert png.size == (1000, 700)
        assert len(png.convert("L").resize((100, 70)).getcolors(7000) or []) > 20  # a rendered window, not a blank
    assert sorted(p.name for p in image.parent.iterdir()) == before  # nothing written into the installation
