"""``radlens`` / ``radlens view``: no Qt at import time, the app runs and exits 0 on close."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets

from viewer.app_cli import parse_size

ROOT = Path(__file__).resolve().parents[2]


def test_the_dispatcher_imports_no_qt():
    code = ("import sys, viewer.cli, viewer.app_cli; viewer.cli.build_parser('view'); "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parse_size():
    assert parse_size("1600x1000") == (1600, 1000)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("big")


def test_radlens_view_runs_and_exits_0_on_close(qtbot, settings_path, demo_copy):
    from viewer.cli import main
    from viewer.main_window import MainWindow

    before = set(threading.enumerate())
    seen: dict[str, Any] = {}  # the image's path and the research-use label

    def close_when_ready() -> None:
        windows = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if windows and windows[0].state.image is not None:
            seen["image"] = windows[0].state.image_path
            seen["research"] = windows[0].status.research.text()
            windows[0].close()
        else:
            QtCore.QTimer.singleShot(100, close_when_ready)

    QtCore.QTimer.singleShot(100, close_when_ready)
    assert main(["view", str(demo_copy)]) == 0
    assert seen["image"].name == "phantom_00000.dcm"
    assert "not for diagnostic use" in seen["research"]
    qtbot.waitUntil(lambda: QtCore.QThreadPool.globalInstance().activeThreadCount() == 0, timeout=15000)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    assert settings_path.exists()  # the session is remembered for the next start
