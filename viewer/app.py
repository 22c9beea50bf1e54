"""Start the desktop app: QApplication, settings, main window, what to open first.

First run opens the demo study (``resources/demo/images`` with ``resources/demo/train.csv``) and
the bundled default model; later runs reopen what was open last (settings ``last_path``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

from engine.version import version
from viewer.main_window import MainWindow
from viewer.settings import Settings

log = logging.getLogger(__name__)


def application(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once), with pyqtgraph configured for row-major images."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("RadLens")
        app.setOrganizationName("RadLens")
        app.setApplicationVersion(version())
        from engine.resources import icon_path

        app.setWindowIcon(QtGui.QIcon(str(icon_path())))
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    return app  # type: ignore[return-value]


def dark_palette() -> QtGui.QPalette:
    """A dark palette: a reading room is dark, and so is every radiology workstation."""
    p = QtGui.QPalette()
    c = QtGui.QColor
    roles = QtGui.QPalette.ColorRole
    for role, color in ((roles.Window, c(38, 40, 44)), (roles.WindowText, c(225, 225, 225)),
                        (roles.Base, c(26, 27, 30)), (roles.AlternateBase, c(44, 46, 50)),
                        (roles.Text, c(225, 225, 225)), (roles.Button, c(50, 52, 57)),
                        (roles.ButtonText, c(225, 225, 225)), (roles.Highlight, c(42, 110, 190)),
                        (roles.HighlightedText, c(255, 255, 255)), (roles.ToolTipBase, c(50, 52, 57)),
                        (roles.ToolTipText, c(225, 225, 225)), (roles.PlaceholderText, c(140, 140, 140))):
        p.setColor(role, color)
    return p


def first_path(settings: Settings, path: str | None) -> Path:
    """What to open: the argument, else the last path if it still exists, else the demo study."""
    from engine.resources import demo_images

    if path:
        return Path(path)
    last = settings["last_path"]
    if last and Path(last).exists():
        return Path(last)
    return demo_images()


def create_window(path: str | None = None, settings: Settings | None = None, **kwargs: object) -> MainWindow:
    """Make the main window and open the first path (used by the app, screenshot mode and tests)."""
    application()
    settings = settings or Settings()
    window = MainWindow(settings, **kwargs)  # type: ignore[arg-type]
    for warning in settings.warnings:
        window.show_status(f"Settings: {warning}", 15000)
    window.open_path(first_path(settings, path))
    cpu_notice(window, settings)
    return window


CPU_NOTICE = "No GPU found: explanations run on the CPU (a few seconds each; Score-CAM and SmoothGrad longer)."


def cpu_notice(window: MainWindow, settings: Settings, gpu: bool | None = None) -> bool:
    """On the first start on a machine without a GPU, say once in the status bar that explanations run
    on the CPU (settings ``cpu_notice_shown``); returns whether it was shown. Not with settings that are
    not saved (the screenshot mode), where "once" could not be kept."""
    if not settings.persist:
        return False
    if gpu is None:
        import torch

        gpu = bool(torch.cuda.is_available())
    if gpu or settings["cpu_notice_shown"]:
        return False
    window.show_status(CPU_NOTICE, 20000)
    settings["cpu_notice_shown"] = True
    settings.save()
    return True


def run(path: str | None = None) -> int:
    """Run the app until the window closes; exit code 0. An exception that escapes a Qt slot is a
    crash: its log is written and the user told where (the app goes on)."""
    from viewer.app_cli import crash_box
    from viewer.startup import report_crash

    sys.excepthook = lambda t, e, tb: report_crash(t, e, tb, show_box=crash_box)
    app = application()
    window = create_window(path)
    window.show()
    code = app.exec()
    window.shutdown()
    return int(code)
