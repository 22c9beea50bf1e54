"""Run dicom3tools' ``dciodvfy`` (the IOD validator) on a file and collect its errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DCIODVFY = shutil.which("dciodvfy")


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` lines that ``dciodvfy`` prints for ``path``."""
    assert DCIODVFY is not None, "dciodvfy missing: install the Debian package dicom3tools (.ci/run does)"
    proc = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60, check=False)
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [ln for ln in lines if ln.startswith("Error")]
    warnings = [ln for ln in lines if ln.startswith("Warning")]
    return errors, warnings


def assert_valid(path: Path, allowed_warnings: tuple[str, ...] = ()) -> None:
    """No ``dciodvfy`` error, and no warning other than those containing one of ``allowed_warnings``."""
    errors, warnings = dciodvfy(path)
    assert errors == [], f"{path.name}: {errors}"
    unexpected = [w for w in warnings if not any(a in w for a in allowed_warnings)]
    assert unexpected == [], f"{path.name}: {unexpected}"
