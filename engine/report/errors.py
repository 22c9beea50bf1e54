"""Errors of the PDF report: each names what was refused and what to do about it."""

from __future__ import annotations

from engine.errors import RadLensError


class ReportError(RadLensError):
    """A report could not be built or written."""


class NothingExplainedError(ReportError):
    """There is no explanation (or no class of it) to report."""


class ReportInputError(ReportError):
    """The pieces given to the report do not fit together (class not explained, other model...)."""


class ReportWriteError(ReportError):
    """The PDF could not be written to its file."""
