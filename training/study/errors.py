"""Errors of ``radlens study``: every one is a :class:`engine.errors.RadLensError`."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

from engine.errors import RadLensError


class StudyError(RadLensError):
    """A study cannot run or report as asked (output folder, data, models)."""


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid entry of a study file.

    Attributes:
        line: 1-based line in the study file (0 when unknown, e.g. a missing key).
        key: Dotted path of the entry (``methods[1].name``).
        message: What is wrong.
        accepted: The values or form accepted there.
    """

    line: int
    key: str
    message: str
    accepted: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        hint = f" (accepted: {self.accepted})" if self.accepted else ""
        return f"{where}{self.key}: {self.message}{hint}"


class StudyConfigError(StudyError):
    """The study file is invalid; :attr:`problems` lists every problem found, not only the first.

    Args:
        problems: The problems, in file order.
        path: The study file (or preset name).
    """

    def __init__(self, problems: list[ConfigProblem], *, path: str | PathLike[str] | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.key))
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"the study file has {len(self.problems)} problem(s):\n{listing}\n",
            path=path, fix="correct these entries (see docs/studies.md for the schema) and run again.",
        )
