"""Write a :class:`ReportInput` as a PDF, atomically.

The whole document is built in memory first; only a complete PDF is written, through
:mod:`engine.atomic` (temporary file beside the target, then rename). On any failure the target
is left as it was (absent, or the previous report) and no temporary file remains.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.errors import CancelledError
from engine.report.errors import ReportWriteError
from engine.report.model import STATEMENT, ReportInput

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def pdf_metadata(inp: ReportInput) -> dict[str, str]:
    """Title, subject, author, creator and keywords of the PDF (never patient data).

    ``render_pdf`` calls it with the de-identified input when ``inp.deidentify`` is set, so a title
    or class name holding an identifier is scrubbed here too.
    """
    r = inp.explanation
    return {
        "title": inp.title,
        "subject": (f"{r.method} explanation of {', '.join(inp.classes)} by {inp.model.name} {inp.model.version} "
                    f"(weights SHA-256 {inp.model.weights_sha256[:12]}). {STATEMENT}."),
        "author": inp.author,
        "creator": f"RadLens {inp.app_version}",
        "keywords": ", ".join(["RadLens", "explanation", r.method, *inp.classes]),
    }


def render_pdf(inp: ReportInput, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> bytes:
    """The report as PDF bytes (nothing is written to disk)."""
    from reportlab.platypus import SimpleDocTemplate

    from engine.report.document import story
    from engine.report.layout import MARGIN_BOTTOM, MARGIN_TOP, MARGIN_X, PAGE, numbered_canvas, register_fonts

    register_fonts()
    if inp.deidentify:
        from engine.report.deid import deidentified

        inp = deidentified(inp)
    steps = 3 + len(inp.classes) + (1 if inp.perturbation is not None else 0)
    done = [0]

    def step(message: str) -> None:
        if cancel is not None and cancel():
            raise CancelledError("report cancelled.")
        done[0] += 1
        if progress is not None:
            progress(min(0.95, done[0] / steps), message)

    meta = pdf_metadata(inp)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=PAGE, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, **meta,
        # de-identified: no creation/modification time in the PDF's metadata (it may be the study's day)
        invariant=1 if inp.deidentify else None,
    )
    flowables = story(inp, step)
    step("laying out pages")
    created = inp.created_text()
    canvas = numbered_canvas(
        header_left=inp.title, header_right=f"Created {created}",
        footer_mid=f"{inp.model.name} {inp.model.version} · {inp.explanation.method}", statement=STATEMENT,
    )
    doc.build(flowables, canvasmaker=canvas)
    if progress is not None:
        progress(1.0, "done")
    return buf.getvalue()


def write_report(
    inp: ReportInput, path: str | os.PathLike[str], *, progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Write the report to ``path`` (a PDF) atomically and return the path.

    Raises:
        ReportWriteError: The folder cannot be written; the message names the path.
        CancelledError: ``cancel()`` returned True; nothing was written.
    """
    target = Path(path)
    data = render_pdf(inp, progress=progress, cancel=cancel)
    if cancel is not None and cancel():
        raise CancelledError("report cancelled.")
    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the report ({exc.strerror or exc}).", path=target,
            fix="choose a folder you can write to, with free space.",
        ) from exc
    return target
