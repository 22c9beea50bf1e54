"""A report is written whole or not at all: no partial PDF, no temporary file, the old report kept."""

from __future__ import annotations

import os

import pytest
from report_helpers import synthetic_input

from engine.errors import CancelledError
from engine.report import ReportWriteError, write_report


def _left(folder):
    return sorted(p.name for p in folder.iterdir())


def test_failure_while_building_leaves_nothing(tmp_path, monkeypatch):
    import engine.report.document as document

    def broken(*_a, **_k):
        raise RuntimeError("simulated failure in the middle of a class page")

    monkeypatch.setattr(document, "_class_page", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        write_report(synthetic_input(), tmp_path / "r.pdf")
    assert _left(tmp_path) == []


def test_failure_while_writing_keeps_the_old_report_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "r.pdf"
    target.write_bytes(b"%PDF old report")

    def no_space(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(ReportWriteError) as info:
        write_report(synthetic_input(), target)
    assert str(target) in str(info.value) and "Fix:" in str(info.value)
    assert _left(tmp_path) == ["r.pdf"] and target.read_bytes() == b"%PDF old report"


def test_cancel_writes_nothing(tmp_path):
    with pytest.raises(CancelledError):
        write_report(synthetic_input(), tmp_path / "r.pdf", cancel=lambda: True)
    assert _left(tmp_path) == []


def test_success_replaces_and_reports_progress(tmp_path):
    target = tmp_path / "r.pdf"
    target.write_bytes(b"old")
    seen = []
    write_report(synthetic_input(), target, progress=lambda f, m: seen.append((f, m)))
    assert target.read_bytes().startswith(b"%PDF-") and _left(tmp_path) == ["r.pdf"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 4
