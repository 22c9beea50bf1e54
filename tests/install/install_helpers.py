"""Helpers of the install tests: build RadLens's wheel from a copy of the checkout; an environment that
cannot find the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    """The folder RadLens's dependencies are installed in (where this process finds torch and PySide6)."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin is not None, "the dependencies (torch) are not installed"
    folder = Path(spec.origin).resolve().parents[1]
    assert importlib.util.find_spec("PySide6") is not None
    return folder


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment that cannot find the checkout: no PYTHONPATH, a temporary HOME and user folders."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not k.startswith("RADLENS_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
               OMP_NUM_THREADS="1")
    env.update(extra)
    return env


__all__ = ["ROOT", "build_wheel", "clean_env", "copy_sources", "shared_site_packages"]
