"""PDF explanation reports: what was on screen, with enough to reproduce it.

Public API::

    from engine.report import build_report_input, from_viewer_state, write_report
    inp = build_report_input(image, model, result, ["Pneumothorax"], threshold="top:0.05",
                             ground_truth=gt, user_boxes=mine, perturbation=perturb_json)
    write_report(inp, "report.pdf")          # atomic; nothing partial is ever left

The CLI (``radlens report``) and the viewer's "Export report…" both go through
:func:`build_report_input`, so both print the same numbers. See ``docs/reports.md``.
"""

from engine.report.build import build_report_input, check_perturbation, from_viewer_state, resolve_classes
from engine.report.errors import NothingExplainedError, ReportError, ReportInputError, ReportWriteError
from engine.report.model import STATEMENT, ModelCard, ReportInput
from engine.report.writer import pdf_metadata, render_pdf, write_report

__all__ = [
    "STATEMENT",
    "ModelCard",
    "NothingExplainedError",
    "ReportError",
    "ReportInput",
    "ReportInputError",
    "ReportWriteError",
    "build_report_input",
    "check_perturbation",
    "from_viewer_state",
    "pdf_metadata",
    "render_pdf",
    "resolve_classes",
    "write_report",
]
