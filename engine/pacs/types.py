"""What queries ask and return, and the callbacks long PACS work takes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.pacs.errors import NodeConfigError

ProgressFn = Callable[[int, int | None, str], None]
"""``progress(done, total_or_None, message)``."""
CancelledFn = Callable[[], bool]
FileFn = Callable[[Path], None]
"""Called with each instance's final path as soon as it is written (the file is complete)."""

_DATE = re.compile(r"^\d{8}$")


@dataclass(frozen=True)
class StudyQuery:
    """A study search; empty fields match everything. Names may use ``*`` wildcards."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""  # YYYYMMDD
    date_to: str = ""  # YYYYMMDD
    modality: str = ""
    accession: str = ""
    study_uid: str = ""
    limit: int = 200

    def __post_init__(self) -> None:
        for label, value in (("from", self.date_from), ("to", self.date_to)):
            if value and not _DATE.match(value):
                raise NodeConfigError(f"study date {label} {value!r} is not YYYYMMDD.", fix="write e.g. 20240131.")

    @property
    def date_range(self) -> str:
        """The DICOM range matching form: ``FROM-TO``, ``FROM-``, ``-TO``, ``DATE`` or ``""``."""
        if not self.date_from and not self.date_to:
            return ""
        if self.date_from and self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from}-{self.date_to}"


def parse_date_range(text: str) -> tuple[str, str]:
    """``"20200101-20201231"``, ``"20200101-"``, ``"-20201231"``, ``"20200101"`` -> (from, to)."""
    text = text.strip().replace("/", "").replace(".", "")
    if not text:
        return "", ""
    if "-" in text and not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        lo, _, hi = text.partition("-")
    else:
        lo = hi = text.replace("-", "")
    lo, hi = lo.replace("-", ""), hi.replace("-", "")
    for value in (lo, hi):
        if value and not _DATE.match(value):
            raise NodeConfigError(f"date range {text!r} is not FROM-TO in YYYYMMDD.",
                                  fix="write e.g. 20200101-20201231.")
    return lo, hi


@dataclass(frozen=True)
class StudyHit:
    """One study a search found."""

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesHit:
    """One series of a study, with its image count."""

    series_uid: str
    study_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    n_instances: int | None = None


@dataclass(frozen=True)
class RetrieveResult:
    """What a retrieval wrote: every instance's path (in arrival order) and where they are."""

    folder: Path
    files: tuple[Path, ...]
    method: str
    seconds: float
