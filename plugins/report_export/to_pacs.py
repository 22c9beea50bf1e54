"""The "Export to PACS…" command: the current explanation as DICOM objects, sent to a configured PACS node.

Joins the two halves of issue 17: :func:`engine.dicom_out.write_results` writes the SR (TID 1500), the
Parametric Map and the Secondary Captures (and the Encapsulated PDF report when one was exported for
this image, or on request) into a temporary folder, then :func:`engine.pacs.send_files` copies them
into the node's outbox and sends them (STOW-RS or C-STORE). The temporary folder is removed
afterwards; what the PACS did not acknowledge waits in the outbox (PACS dock › Outbox, Retry) and the
message names it. Everything runs off the GUI thread on the plugin's job runner. Only the plugin
API, the engine and Qt are imported.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from PySide6 import QtWidgets

from engine import pacs
from engine.errors import RadLensError
from plugins.api import CancelledFn, ProgressFn, ViewerHost
from plugins.report_export import export as report_export
from plugins.report_export.dicom import dicom_snapshot, write_snapshot
from plugins.report_export.export import _submit

TITLE = "Export to PACS"
KIND_NAMES = {"sr": "SR", "pm": "parametric map", "sc": "secondary capture", "pdf": "encapsulated PDF report"}


@dataclass
class ExportOutcome:
    """What an export did: the objects written (SOP Instance UID -> kind) and the send's report."""

    node: str
    kinds: dict[str, str] = field(default_factory=dict)
    report: pacs.SendReport | None = None

    def describe(self, uids: list[str]) -> str:
        """``"SR, parametric map, 2 secondary captures"`` for these SOP Instance UIDs."""
        counts: dict[str, int] = {}
        for uid in uids:
            kind = self.kinds.get(uid, "object")
            counts[kind] = counts.get(kind, 0) + 1
        order = [*KIND_NAMES.values(), "object"]
        return ", ".join(k if n == 1 else f"{n} {k}s" for k, n in sorted(counts.items(),
                                                                        key=lambda kv: order.index(kv[0])))


def _kind_of(path: Path) -> str:
    match = re.search(r"\.(sr|pm|sc|pdf)(\.\d+)?\.dcm$", path.name)
    return KIND_NAMES[match.group(1)] if match else "object"


def ask_target(host: ViewerHost, names: list[str], pdf_default: bool) -> tuple[str, bool] | None:
    """Ask for the node (the last one used first) and whether to add the PDF report; None when cancelled."""
    dialog = QtWidgets.QDialog(host.main_window())
    dialog.setWindowTitle(TITLE)
    form = QtWidgets.QFormLayout(dialog)
    node = QtWidgets.QComboBox(dialog)
    node.addItems(names)
    form.addRow("Send to:", node)
    pdf = QtWidgets.QCheckBox("Add the PDF report (Encapsulated PDF)", dialog)
    pdf.setChecked(pdf_default)
    form.addRow(pdf)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel, dialog)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return node.currentText(), pdf.isChecked()


def export_to_pacs(host: ViewerHost) -> None:
    """``report.export_pacs``: ask for the node, then write the objects and send them."""
    if not _ready(host):
        return
    try:
        config = pacs.PacsConfig.load()
    except pacs.PacsError as exc:
        host.show_error(TITLE, str(exc))
        return
    names = sorted(config.nodes)
    if not names:
        host.show_error(TITLE, "No PACS node is configured. Fix: add one in Tools › PACS nodes….")
        return
    last = host.settings.get("send_node")
    if last in names:
        names.remove(last)
        names.insert(0, last)
    choice = ask_target(host, names, pdf_default=exported_report(host) is not None)
    if choice is not None:
        export_to_pacs_node(host, choice[0], include_pdf=choice[1], config=config)


def exported_report(host: ViewerHost) -> Path | None:
    """The PDF report last exported (File › Export report…) for the open image, if it still exists."""
    path = host.state.image_path
    found = report_export.exported_reports.get(str(path)) if path is not None else None
    return found if found is not None and found.is_file() else None


def _ready(host: ViewerHost) -> bool:
    state = host.state
    if state.explanation is None or state.image is None:
        host.show_error(TITLE, "Nothing has been explained yet, so there are no results to send. "
                        "Fix: open a DICOM image and run the explanation (Explain image), then export to PACS.")
        return False
    return True


def export_to_pacs_node(host: ViewerHost, node: str, *, include_pdf: bool = False,
                        config: pacs.PacsConfig | None = None) -> None:
    """Write the current explanation's objects to a temporary folder and send them to ``node`` (a job).

    With ``include_pdf`` the PDF report exported for this image is added (made now when there is none).
    """
    if not _ready(host):
        return
    state = host.state
    snap = dicom_snapshot(host, pdf=exported_report(host) if include_pdf else None)
    report_state = None
    if include_pdf and snap.pdf is None:
        if state.model is None:
            host.show_error(TITLE, "The PDF report needs the model that made the explanation. Fix: export "
                            "without the PDF, or explain the image again and export.")
            return
        look = state.overlay
        report_state = SimpleNamespace(**{f: getattr(state, f) for f in report_export._FIELDS},
                                       colormap=look.colormap, opacity=look.opacity)
        report_state.image = snap.image
    host.settings.set("send_node", node)

    def work(cancelled: CancelledFn, progress: ProgressFn) -> ExportOutcome:
        folder = Path(tempfile.mkdtemp(prefix="radlens-export-pacs-"))
        try:
            pdf: Path | None = snap.pdf
            if report_state is not None:
                from engine.report import from_viewer_state, write_report

                progress(0.05, "making the PDF report")
                pdf = write_report(from_viewer_state(report_state, deidentify=snap.deidentify),
                                   folder / "report.pdf", cancel=cancelled)
            paths = write_snapshot(snap, folder / "dicom", progress, pdf=pdf)
            outcome = ExportOutcome(node=node)
            import pydicom

            for p in paths:
                outcome.kinds[str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)] = _kind_of(p)
            progress(0.6, f"sending {len(paths)} objects to {node}")
            outcome.report = pacs.send_files(node, paths, config=config)
            return outcome
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def done(outcome: ExportOutcome) -> None:
        report = outcome.report
        assert report is not None
        sent = [uid for uid in report.sent if uid in outcome.kinds]
        if report.pending:
            pending = [p.stem for p in report.pending]
            mine = [uid for uid in pending if uid in outcome.kinds]
            older = len(pending) - len(mine)
            waiting = outcome.describe(mine) or "nothing of this export"
            host.show_error(f"{TITLE}: not everything was sent",
                            f"{len(sent)} of {len(outcome.kinds)} objects sent to {node}. Waiting in the outbox: "
                            f"{waiting}" + (f" (and {older} older object(s))" if older else "")
                            + f". Reason: {report.error or 'not acknowledged'}. Nothing is lost: they are sent "
                            "again with the next send to this node, or from the PACS dock's Outbox (Retry).")
        else:
            host.show_status(f"Exported to PACS {node}: {outcome.describe(sent)} ({len(sent)} objects sent)", 8000)

    def failed(exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, RadLensError) else f"{type(exc).__name__}: {exc}"
        host.show_error(f"{TITLE} failed", text)

    def progress(fraction: float, message: str) -> None:
        host.show_status(f"Exporting to PACS… {fraction * 100:.0f}% {message}")

    host.show_status(f"Exporting to PACS {node}…")
    _submit(host, work, done, failed, progress)
