"""Where retrieved instances land: one atomic file each, listed, removed again if the retrieval fails.

Layout: ``FOLDER/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``. Each instance is
written to a temporary file beside its target and renamed, so a file under its final name is always
complete. Unlike :mod:`engine.atomic` (what the user made), retrieved copies are not fsync'ed one by
one: they can be fetched again, and an fsync per instance made a 200-image retrieval several times
slower than the network (``scripts/bench_pacs.py``). :meth:`InstanceSink.discard` removes the files this retrieval
created (files that were already there from an earlier complete retrieval stay), so a retrieval
that fails or is cancelled leaves no part of a study behind.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

import pydicom

from engine.pacs.errors import RetrieveError
from engine.pacs.types import FileFn

log = logging.getLogger(__name__)
_SAFE = re.compile(r"^[0-9.]{1,64}$")


def _uid_part(uid: str, what: str) -> str:
    uid = str(uid).strip().rstrip("\x00")
    if not _SAFE.match(uid):
        raise RetrieveError(f"the PACS sent an instance whose {what} {uid!r} is not a DICOM UID.",
                            fix="the PACS's data is inconsistent; report it to the PACS administrator.")
    return uid


def _write_renamed(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target`` and rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class InstanceSink:
    """Collects instances of one retrieval under ``folder``; thread-safe (C-MOVE stores arrive on
    the SCP's threads).

    Args:
        folder: The cache or output folder.
        on_file: Called with each final path as soon as it is written.
        study_uid: When set, instances of another study are refused (a C-MOVE SCP may receive others).
    """

    def __init__(self, folder: Path, on_file: FileFn | None = None, study_uid: str | None = None) -> None:
        self.folder = Path(folder)
        self.on_file = on_file
        self.study_uid = study_uid
        self.files: list[Path] = []
        self._created: list[Path] = []
        self._lock = threading.Lock()

    def path_for(self, study: str, series: str, sop: str) -> Path:
        return self.folder / _uid_part(study, "Study Instance UID") / _uid_part(series, "Series Instance UID") / \
            f"{_uid_part(sop, 'SOP Instance UID')}.dcm"

    def add_bytes(self, data: bytes) -> Path:
        """Store one Part-10 file given as bytes (its UIDs are read from the header)."""
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
            study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        except Exception as exc:  # pydicom raises many kinds for a broken header
            raise RetrieveError(f"the PACS sent a part that is not a DICOM instance ({type(exc).__name__}: {exc}).",
                                fix="retry; if it persists, the PACS's copy is damaged.") from exc
        return self._write(str(study), str(series), str(sop), data)

    def _write(self, study: str, series: str, sop: str, data: bytes) -> Path:
        if self.study_uid and study != self.study_uid:
            raise RetrieveError(f"an instance of study {study} arrived while retrieving {self.study_uid}.")
        target = self.path_for(study, series, sop)
        with self._lock:
            existed = target.exists()
            _write_renamed(target, data)
            if not existed:
                self._created.append(target)
            self.files.append(target)
        if self.on_file is not None:
            self.on_file(target)
        return target

    def discard(self) -> int:
        """Remove the files this retrieval created and the folders left empty; returns how many."""
        with self._lock:
            created, self._created = self._created, []
            self.files = [f for f in self.files if f not in set(created)]
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            for parent in (path.parent, path.parent.parent):
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty
        if created:
            log.info("removed %d instance(s) of an incomplete retrieval under %s", len(created), self.folder)
        return len(created)
