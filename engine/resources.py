"""Where RadLens's files are: the bundled resources, and the user's own folders. Qt-free.

Bundled resources (model bundles, the demo study, study presets, icons) are package data of the
``resources`` package: found with :func:`importlib.resources.files`, so they are found the same way
in a source checkout, an editable install, an installed wheel and a PyInstaller bundle. When that
package cannot be imported (a source checkout run with only the code packages on the path), the
``resources/`` folder beside ``engine/`` is used.

User folders follow the XDG base directories; each has an environment variable that overrides it
(tests point them at temporary folders):

==========  ===============================  ====================================
what        default                          override
==========  ===============================  ====================================
settings    ``$XDG_CONFIG_HOME/radlens``     ``RADLENS_SETTINGS`` (the file)
data        ``$XDG_DATA_HOME/radlens``       ``RADLENS_DATA``
logs        ``$XDG_STATE_HOME/radlens/log``  ``RADLENS_LOG_DIR``
cache       ``$XDG_CACHE_HOME/radlens``      ``RADLENS_CACHE``
==========  ===============================  ====================================
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import os
import sys
from pathlib import Path

from engine.errors import RadLensError

PACKAGE = "resources"


@functools.cache
def resources_root() -> Path:
    """The folder of the bundled resources (``models/``, ``demo/``, ``studies/``, ``icons/``).

    Raises:
        RadLensError: Neither the ``resources`` package nor a ``resources/`` folder beside the
            code is there (an installation without its data).
    """
    try:
        module = importlib.import_module(PACKAGE)
    except ImportError:
        module = None
    if module is not None and getattr(module, "RADLENS_RESOURCES", False):
        root = Path(str(importlib.resources.files(module)))
        if root.is_dir():
            return root.resolve()
    fallback = Path(__file__).resolve().parents[1] / "resources"
    if (fallback / "__init__.py").is_file():
        return fallback
    raise RadLensError(
        "RadLens's bundled resources (models, demo study, presets) are not installed.",
        path=fallback,
        fix="reinstall RadLens from its wheel (pip install radlens-*.whl) or run it from a full checkout.",
    )


def models_dir() -> Path:
    """The folder of the bundled model bundles (one sub-folder each)."""
    return resources_root() / "models"


def bundle_dirs() -> list[Path]:
    """Every bundled model bundle (a folder under :func:`models_dir` holding ``model.json``), sorted."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "model.json").is_file())


def demo_dir() -> Path:
    """The demo study: ``images/*.dcm``, ``train.csv``, ``truth.json``."""
    return resources_root() / "demo"


def demo_images() -> Path:
    """The demo study's image folder."""
    return demo_dir() / "images"


def presets_dir() -> Path:
    """The study presets (``*.yaml``)."""
    return resources_root() / "studies"


def icon_path(name: str = "radlens.png") -> Path:
    """A bundled icon (``radlens.png`` 256 px, ``radlens.svg``)."""
    return resources_root() / "icons" / name


def is_bundled(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` lies inside the bundled resources (never write there)."""
    try:
        Path(path).resolve().relative_to(resources_root())
    except (ValueError, OSError, RadLensError):
        return False
    return True


# --- the user's folders -----------------------------------------------------------------------------
def _xdg(var: str, default: str) -> Path:
    base = os.environ.get(var)
    return Path(base) if base and os.path.isabs(base) else Path.home() / default


def _windows_or_mac(kind: str) -> Path | None:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "RadLens" / kind
    if sys.platform == "darwin":
        lib = Path.home() / "Library"
        return {"data": lib / "Application Support" / "RadLens", "log": lib / "Logs" / "RadLens",
                "cache": lib / "Caches" / "RadLens"}[kind]
    return None


def user_data_dir() -> Path:
    """The user's RadLens data (annotations of images RadLens must not write beside)."""
    env = os.environ.get("RADLENS_DATA")
    if env:
        return Path(env)
    return _windows_or_mac("data") or _xdg("XDG_DATA_HOME", ".local/share") / "radlens"


def user_log_dir() -> Path:
    """Where crash logs go."""
    env = os.environ.get("RADLENS_LOG_DIR")
    if env:
        return Path(env)
    return _windows_or_mac("log") or _xdg("XDG_STATE_HOME", ".local/state") / "radlens" / "log"


def user_cache_dir() -> Path:
    """RadLens's caches (the PACS retrieve cache lives under it); images here are never written beside."""
    env = os.environ.get("RADLENS_CACHE")
    if env:
        return Path(env)
    return _windows_or_mac("cache") or _xdg("XDG_CACHE_HOME", ".cache") / "radlens"
