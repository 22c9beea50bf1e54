"""Help dialogs: keyboard shortcuts (F1) and the plugin list with their errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from viewer.actions import ACTIONS, MOUSE_HELP

if TYPE_CHECKING:
    from viewer.plugin_host import PluginHost


def shortcut_rows(host: PluginHost | None = None) -> list[tuple[str, str, str]]:
    """``(keys, command, menu)`` for the core's actions and the plugins' commands and panels."""
    rows = [(s.shortcut, s.text, f"{s.menu} (on the image)" if s.on_image else s.menu) for s in ACTIONS if s.shortcut]
    rows += [(keys, what, "Mouse") for keys, what in MOUSE_HELP]
    if host is not None:
        for _plugin, command, action in host.commands.values():
            if action.shortcut().toString():
                rows.append((action.shortcut().toString(), command.title, f"{command.menu} (plugin)"))
        for dock in host.docks.values():
            seq = dock.toggleViewAction().shortcut().toString()
            if seq:
                rows.append((seq, f"Show/hide {dock.windowTitle()}", "View (plugin)"))
    return rows


def _table(headers: list[str], rows: Sequence[tuple[str, ...]]) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    table.setWordWrap(True)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)  # compact: more rows fit
    return table


def _dialog(parent: QtWidgets.QWidget, title: str, name: str, body: QtWidgets.QWidget) -> QtWidgets.QDialog:
    dialog = QtWidgets.QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addWidget(body)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(buttons)
    dialog.resize(720, 560)
    return dialog


def help_dialog(parent: QtWidgets.QWidget, host: PluginHost | None) -> QtWidgets.QDialog:
    """The F1 dialog listing every shortcut and mouse gesture."""
    table = _table(["Keys", "Command", "Menu"], shortcut_rows(host))
    header = table.horizontalHeader()
    for column in (0, 1):  # keys and commands never cut; the menu column takes the rest
        header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
    dialog = _dialog(parent, "Keyboard shortcuts", "help_dialog", table)
    dialog.resize(960, 780)
    return dialog


def plugin_rows(host: PluginHost) -> list[tuple[str, str, str, str]]:
    """``(plugin, version, status, details)`` for every discovered plugin."""
    rows = []
    for p in host.plugins:
        m = p.manifest
        name = m.name if m is not None else p.entry_point
        status = "failed" if p.error else ("loaded with errors" if p.contribution_errors else "loaded")
        details = p.error or "; ".join(f"{cid}: {err}" for cid, err in p.contribution_errors.items())
        if not details and m is not None:
            details = ", ".join(f"{type(c).__name__} {c.id}" for c in m.contributions)
        rows.append((name, m.version if m is not None else "", status, f"{p.entry_point}\n{details}"))
    return rows


def plugins_dialog(parent: QtWidgets.QWidget, host: PluginHost) -> QtWidgets.QDialog:
    """Help > Plugins: every discovered plugin, what it contributes, or why it failed."""
    table = _table(["Plugin", "Version", "Status", "Entry point / contributions / error"], plugin_rows(host))
    table.setObjectName("plugins_table")
    table.resizeRowsToContents()
    return _dialog(parent, "Plugins", "plugins_dialog", table)
