"""Helpers of the install tests: build RadLens's wheel from a copy of the checkout, and a fresh virtual
environment outside the checkout that reuses the dependencies already installed (no downloads)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What a wheel is built from (the rest of the checkout is not packaged).
PACKAGED = ("pyproject.toml", "README.md", "engine", "viewer", "plugins", "training", "resources")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.radlens.json", "*.bak", "*.egg-info")


def copy_sources(dest: Path) -> Path:
    """The packaged part of the checkout, copied (so building leaves nothing in the checkout)."""
    dest.mkdir(parents=True)
    for name in PACKAGED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE)
        else:
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel --no-deps --no-build-isolation``: uses the setuptools already installed."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(out), str(src)], check=True, capture_output=True,
                   timeout=120)
    (wheel,) = out.glob("radlens-*.whl")
    return wheel


def shared_site_packages() -> Path:
    """The site-packages of the environment running the tests (RadLens's dependencies)."""
    return Path(sysconfig.get_paths()["purelib"])


def fresh_venv(where: Path) -> Path:
    """A new venv (no pip of its own) whose .pth reaches the shared dependencies; returns its python."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True, timeout=60)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # appended after the venv's own site-packages, so what is installed into the venv wins
    Path(purelib, "zz-shared-deps.pth").write_text(f"{shared_site_packages()}\n", encoding="utf-8")
    return python


def pip_install(python: Path, *args: str) -> None:
    """Install into the venv of ``python`` with the shared pip (``pip --python``), no downloads."""
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--no-compile", "-q", "--disable-pip-version-check", *args],
                   check=True, capture_output=True, timeout=120)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment that cannot find the checkout: no PYTHONPATH, a temporary HOME and user folders."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not k.startswith("RADLENS_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
               OMP_NUM_THREADS="1")
    env.update(extra)
    return env


__all__ = ["ROOT", "build_wheel", "clean_env", "copy_sources", "fresh_venv", "pip_install", "shared_site_packages"]
