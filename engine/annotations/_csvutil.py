"""Shared helpers for the CSV readers: opening, header sniffing and typed field parsing."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from engine.errors import AnnotationError, AnnotationParseError

FIX_ROW = "Correct or remove that row and load the file again."


@contextmanager
def open_text(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """Open a text annotation file (UTF-8, BOM tolerated), mapping OS errors to ours."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise AnnotationError(
            f"Cannot open the annotation file ({exc.strerror or exc}).",
            path=path,
            fix="Check that the file exists and is readable.",
        ) from exc
    with handle:
        yield handle


def read_header(path: str | os.PathLike[str]) -> list[str] | None:
    """Return the first CSV row of ``path`` with fields stripped, or None if unreadable."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            line = handle.readline(4096)
    except (OSError, UnicodeDecodeError):
        return None
    if not line:
        return None
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    return [field.strip() for field in row]


def parse_error(
    path: str | os.PathLike[str], line: int, column: str, problem: str
) -> AnnotationParseError:
    """Build the standard parse error naming file, line and field."""
    return AnnotationParseError(
        f"line {line}, field {column!r}: {problem}", path=Path(path), fix=FIX_ROW
    )


def parse_float(path: str | os.PathLike[str], line: int, column: str, text: str) -> float:
    """Parse a finite float (``"691"`` and ``"691.0"`` both work) or raise a parse error."""
    try:
        value = float(text)
    except ValueError:
        raise parse_error(path, line, column, f"{text!r} is not a number.") from None
    if not math.isfinite(value):
        raise parse_error(path, line, column, f"{text!r} is not a finite number.")
    return value


def parse_int(path: str | os.PathLike[str], line: int, column: str, text: str) -> int:
    """Parse an integer (``"14"`` or ``"14.0"``) or raise a parse error."""
    value = parse_float(path, line, column, text)
    if not value.is_integer():
        raise parse_error(path, line, column, f"{text!r} is not a whole number.")
    return int(value)


def format_number(value: float) -> str:
    """Format a coordinate as the datasets do (``691.0``; shortest exact float repr)."""
    return repr(float(value))
