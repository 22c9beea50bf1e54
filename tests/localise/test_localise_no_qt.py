"""engine.localise imports no GUI code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_localise_imports_no_gui() -> None:
    code = (
        "import sys, engine.localise\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'viewer', 'plugins')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    assert result.returncode == 0, result.stderr
