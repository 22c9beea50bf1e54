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


def source_commit() -> str:
    """The git commit of a source checkout (``<sha>``, ``<sha>-dirty`` with uncommitted changes to
    tracked files), or ``""`` for an installed RadLens or when git is unavailable.

    The version number does not change with every change of the code; a study records this beside it
    so that its numbers can be traced to the code that computed them.
    """
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return ""
    try:
        sha = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run([git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}-dirty" if dirty else sha
