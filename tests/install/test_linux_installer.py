"""installer/linux/install.sh (issue #18), run as CI runs it: into a temporary prefix, RadLens from a
wheelhouse holding the freshly built wheel, the dependencies reused from this environment
(--reuse-site-packages, the developer/test option: a fresh venv outside the checkout whose .pth
reaches them; no PyTorch download). The installed launcher, run from a temporary folder, explains the
installed demo study and takes a screenshot offscreen (so the wheel carries its resources); the
desktop entry validates, .dcm opens in RadLens, a re-run upgrades in place and keeps the user's
settings, and --uninstall removes everything it added and nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from install_helpers import ROOT, clean_env, shared_site_packages
from PIL import Image

INSTALL_SH = ROOT / "installer" / "linux" / "install.sh"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _tree(folder: Path) -> dict[str, str | None]:
    """Every path under ``folder`` -> its text (None for folders)."""
    out: dict[str, str | None] = {}
    for p in sorted(folder.rglob("*")):
        out[p.relative_to(folder).as_posix()] = None if p.is_dir() else p.read_bytes().decode("utf-8", "replace")
    return out


def _install(prefix: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL_SH), "--prefix", str(prefix), *extra], env=env, cwd=prefix.parent,
                          capture_output=True, text=True, timeout=300)


def check_installed_radlens(prefix: Path, env: dict[str, str], work: Path) -> None:
    venv, radlens = prefix / "lib" / "radlens" / "venv", str(prefix / "bin" / "radlens")
    work.mkdir()
    env = {**env, "QT_QPA_PLATFORM": "offscreen", "RADLENS_SETTINGS": str(work / "settings.json")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import engine, json; from engine.resources import "
                            "demo_dir, bundle_dirs; from engine.version import version; print(json.dumps("
                            "[engine.__file__, str(demo_dir()), [str(b) for b in bundle_dirs()], version()]))"],
                           cwd=work, env=env, check=True, capture_output=True, text=True, timeout=60)
    engine_file, demo, bundles, version = json.loads(where.stdout)
    for path in (engine_file, demo, *bundles):
        assert Path(path).is_relative_to(venv), path  # the installed copy, not the checkout
    assert bundles and version == VERSION

    image = Path(demo) / "images" / "phantom_00003.dcm"
    before = sorted(p.name for p in image.parent.iterdir())
    explain = subprocess.Popen([radlens, "explain", str(image), "--annotations", str(Path(demo) / "train.csv"),
                                "--classes", "Pneumothorax", "--out", "out"], cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shot = subprocess.Popen([radlens, "view", "--screenshot", "shot.png", "--size", "1000x700"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    explain_out, _ = explain.communicate(timeout=240)
    shot_out, _ = shot.communicate(timeout=240)
    assert explain.returncode == 0, explain_out
    assert shot.returncode == 0, shot_out

    doc = json.loads((work / "out" / "results.json").read_text())
    assert Path(doc["model"]["path"]).is_relative_to(venv)
    (entry,) = doc["images"]
    assert entry["explanation"]["versions"]["radlens"] == VERSION
    assert [p.name for p in (work / "out").glob("phantom_00003.dcm.*.png")] == ["phantom_00003.dcm.pneumothorax.png"]
    with Image.open(work / "shot.png") as png:
        assert png.size == (1000, 700)
        assert len(png.convert("L").resize((100, 70)).getcolors(7000) or []) > 20  # a rendered window, not blank
    assert sorted(p.name for p in image.parent.iterdir()) == before  # nothing written into the installation


def test_install_upgrade_uninstall(tmp_path: Path, built: dict[str, Path]) -> None:
    home, prefix, house = tmp_path / "home", tmp_path / "prefix", tmp_path / "wheelhouse"
    for d in (home, house):
        d.mkdir()
    shutil.copy2(built["wheel"], house)
    # what the user already had in the prefix: a tool of their own and a default for text files
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "other-tool").write_text("#!/bin/sh\necho mine\n")
    (prefix / "share" / "applications").mkdir(parents=True)
    user_list = "[Default Applications]\ntext/plain=mine.desktop\n"
    (prefix / "share" / "applications" / "mimeapps.list").write_text(user_list)
    foreign = _tree(prefix)
    settings = home / ".config" / "radlens" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"schema_version": 2, "model": "default", "tool": "box"}\n')
    env = clean_env(home, RADLENS_PYTHON=getattr(sys, "_base_executable", sys.executable))
    env.pop("QT_QPA_PLATFORM", None)
    args = ("--wheelhouse", str(house), "--reuse-site-packages", str(shared_site_packages()), "--cpu",
            "--no-system-packages")

    first = _install(prefix, env, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installed in" in first.stdout

    # the system libraries: exactly what the probe of this machine says is missing, as an apt-get line
    probe = subprocess.run([sys.executable, "-m", "viewer.startup", "--missing-packages"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    apt = [line.split("apt-get install -y", 1)[1].split() for line in first.stdout.splitlines()
           if "apt-get install -y" in line]
    assert apt == ([probe] if probe else [])

    # the desktop entry validates, with its icon and the DICOM association (per the desktop database)
    apps = prefix / "share" / "applications"
    check = subprocess.run(["desktop-file-validate", str(apps / "radlens.desktop")], capture_output=True, text=True)
    assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    entry = (apps / "radlens.desktop").read_text()
    icon = next(line.split("=", 1)[1] for line in entry.splitlines() if line.startswith("Icon="))
    with Image.open(icon) as png:
        assert png.size == (256, 256)
    cache = (apps / "mimeinfo.cache").read_text()  # written by update-desktop-database
    assert "application/dicom=radlens.desktop;" in cache and "inode/directory=radlens.desktop;" in cache
    assert "application/dicom=radlens.desktop" in (apps / "mimeapps.list").read_text()
    assert "text/plain=mine.desktop" in (apps / "mimeapps.list").read_text()
    assert (prefix / "share" / "mime" / "application" / "dicom.xml").is_file()  # update-mime-database's output

    # the installed wheel, from outside the checkout: the launcher on PREFIX/bin runs `radlens explain` on the
    # installed demo study with the installed default model, and `radlens view --screenshot` offscreen
    check_installed_radlens(prefix, env, tmp_path / "work")

    # a re-run upgrades in place: same files, the user's settings untouched
    manifest = json.loads((prefix / "lib" / "radlens" / "install-manifest.json").read_text())
    again = _install(prefix, env, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "upgraded in" in again.stdout
    assert json.loads((prefix / "lib" / "radlens" / "install-manifest.json").read_text())["files"] == manifest["files"]
    assert settings.read_text() == '{"schema_version": 2, "model": "default", "tool": "box"}\n'

    # --uninstall: exactly what was there before is left
    gone = _install(prefix, env, "--uninstall")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert _tree(prefix) == foreign
    assert settings.is_file()


def test_install_sh_refuses_an_old_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\nexit 1\n")  # answers "no" to the version check, like Python 3.9 would
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}", "HOME": str(tmp_path), "RADLENS_PYTHON": str(fake)}
    proc = subprocess.run(["/bin/bash", str(INSTALL_SH), "--prefix", str(tmp_path / "p")], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "Python 3.11 or newer" in proc.stderr
    assert not (tmp_path / "p").exists()
    assert os.access(INSTALL_SH, os.X_OK)
