"""Help › About RadLens: the version (from :mod:`engine.version`), the libraries, where things live."""

from __future__ import annotations

import html
import platform

from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import RadLensError
from engine.version import version


def about_rows() -> list[tuple[str, str]]:
    """``(what, value)``: RadLens's version, its libraries, the device, and its folders."""
    import torch

    from engine.resources import resources_root, user_cache_dir, user_data_dir, user_log_dir
    from viewer.settings import default_path

    try:
        resources = str(resources_root())
    except RadLensError as exc:
        resources = str(exc)
    device = f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU (no CUDA GPU found)"
    return [
        ("RadLens", version()),
        ("Python", platform.python_version()),
        ("PyTorch", str(torch.__version__)),
        ("Qt", QtCore.qVersion()),
        ("Explanations run on", device),
        ("Bundled models and demo", resources),
        ("Settings", str(default_path())),
        ("Annotations of read-only images", str(user_data_dir() / "annotations")),
        ("Crash logs", str(user_log_dir())),
        ("Caches", str(user_cache_dir())),
    ]


def about_dialog(parent: QtWidgets.QWidget | None) -> QtWidgets.QDialog:
    """The About dialog (non-modal; the caller shows it)."""
    from engine.resources import icon_path

    dialog = QtWidgets.QDialog(parent)
    dialog.setObjectName("about_dialog")
    dialog.setWindowTitle("About RadLens")
    layout = QtWidgets.QHBoxLayout(dialog)
    icon = QtWidgets.QLabel()
    icon.setPixmap(QtGui.QPixmap(str(icon_path())).scaled(96, 96, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                                           QtCore.Qt.TransformationMode.SmoothTransformation))
    icon.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
    layout.addWidget(icon)
    rows = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                   for k, v in about_rows())
    text = QtWidgets.QLabel(f"<h2>RadLens {html.escape(version())}</h2>"
                            "<p>A radiology viewer with a lab for explaining image classifiers.<br>"
                            "<b>Research use — not for diagnostic use.</b></p>"
                            f"<table>{rows}</table>")
    text.setObjectName("about_text")
    text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    layout.addWidget(text, 1)
    return dialog
