"""RadLens's version, from one place: ``[project] version`` in ``pyproject.toml``.

An installed RadLens reads it from its distribution metadata (which pip wrote from pyproject); a
source checkout reads pyproject.toml itself, so a checkout whose installed metadata is stale still
reports the version it is.
"""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from pathlib import Path

DIST = "radlens"


def _from_source_tree() -> str | None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        doc = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    project = doc.get("project", {})
    if project.get("name") != DIST or not isinstance(project.get("version"), str):
        return None
    return str(project["version"])


@functools.cache
def version() -> str:
    """The RadLens version (``"unknown"`` when neither pyproject.toml nor metadata says)."""
    found = _from_source_tree()
    if found:
        return found
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
