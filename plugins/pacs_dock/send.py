""""Send files to PACS…": choose the node, then send the files through the outbox on the job runner.

The host's :meth:`plugins.api.FileHost.send_files_to_pacs` runs this command with a list of paths
(e.g. the DICOM objects an "Export to PACS…" just wrote); from the File menu it asks for the files.
What the PACS does not acknowledge stays in the outbox (PACS dock › Outbox, Retry).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from engine import pacs
from plugins.api import CancelledFn, JobRunner, ProgressFn, ViewerHost

if TYPE_CHECKING:
    from plugins.pacs_dock.panel import PacsPanel

_runner: JobRunner | None = None


def choose_node(host: ViewerHost, config: pacs.PacsConfig) -> str | None:
    """Ask which node to send to (the last one used first); None when cancelled or none configured."""
    names = sorted(config.nodes)
    if not names:
        host.show_error("Send files to PACS", "No PACS node is configured. Fix: add one in Tools › PACS nodes….")
        return None
    last = host.settings.get("send_node")
    if last in names:
        names.remove(last)
        names.insert(0, last)
    name, ok = QtWidgets.QInputDialog.getItem(host.main_window(), "Send files to PACS", "Send to:", names, 0, False)
    return name if ok and name else None


def send_files_command(host: ViewerHost, paths: list[Path] | None = None, panel: PacsPanel | None = None,
                       node: str | None = None) -> None:
    """``pacs.send_files``: send ``paths`` (asked for when None) to a node (asked for when None)."""
    global _runner
    if paths is None:
        chosen, _ = QtWidgets.QFileDialog.getOpenFileNames(host.main_window(), "Send files to PACS", "",
                                                           "DICOM files (*.dcm);;All files (*)")
        paths = [Path(p) for p in chosen]
    if not paths:
        return
    try:
        config = pacs.PacsConfig.load(panel.config_path if panel is not None else None)
    except pacs.PacsError as exc:
        host.show_error("Send files to PACS", str(exc))
        return
    node = node or choose_node(host, config)
    if node is None:
        return
    host.settings.set("send_node", node)
    files = list(paths)

    def work(_cancelled: CancelledFn, _progress: ProgressFn) -> pacs.SendReport:
        return pacs.send_files(node, files, config=config)

    def done(report: pacs.SendReport) -> None:
        if panel is not None:
            panel.refresh_outbox()
        if report.pending:
            host.show_error("Send files to PACS", f"{len(report.sent)} sent; {len(report.pending)} object(s) wait in "
                            f"the outbox: {report.error}. They are sent again from the PACS dock's Outbox (Retry).")
        else:
            host.show_status(f"PACS: {len(report.sent)} object(s) sent to {node}", 8000)

    def failed(exc: BaseException) -> None:
        host.show_error("Send files to PACS", str(exc))

    if _runner is None:
        _runner = host.task_runner(host.main_window())
    _runner.submit("pacs.send_files", work, done, failed)
