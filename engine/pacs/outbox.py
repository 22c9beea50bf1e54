"""The outbox: what is to be sent waits here until the PACS acknowledged it.

Sending never reads the user's files directly: each object is first copied (atomically) into
``OUTBOX/<node>/<SOPInstanceUID>.dcm``, then sent; a copy is removed only after the PACS
acknowledged that instance (STOW-RS ReferencedSOPSequence, C-STORE success or warning status).
A failure (PACS down, refused, rejected) keeps the copies and records the reason in
``OUTBOX/<node>/node.json``; the next send to that node, ``radlens pacs outbox --retry`` or the
viewer's outbox view sends them again. Nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import UnreadableFileError
from engine.pacs.config import PacsNode, outbox_dir
from engine.pacs.errors import PacsError, SendError

log = logging.getLogger(__name__)
BATCH = 16
Sender = Callable[[PacsNode, Sequence[Path]], tuple[set[str], dict[str, str]]]
"""``sender(node, files) -> (acknowledged SOP UIDs, {failed SOP UID: reason})``."""


@dataclass(frozen=True)
class PendingItem:
    """One object waiting in the outbox."""

    path: Path
    node: str  # the node's name or URL spec
    sop_uid: str
    last_error: str = ""


@dataclass
class SendReport:
    """What a send did: acknowledged SOP UIDs, what is still pending and why."""

    node: str
    sent: list[str] = field(default_factory=list)
    pending: list[Path] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.pending and not self.error


def _slug(name: str) -> str:
    short = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:40] or "node"
    return f"{short}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class Outbox:
    """The outbox folder (default: ``outbox/`` in the user's RadLens config folder)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else outbox_dir()

    def node_folder(self, node_name: str) -> Path:
        return self.folder / _slug(node_name)

    def _write_meta(self, node_name: str, last_error: str) -> None:
        atomic_write_text(self.node_folder(node_name) / "node.json",
                          json.dumps({"node": node_name, "last_error": last_error}, indent=1) + "\n")

    def add(self, node_name: str, paths: Sequence[str | Path]) -> list[Path]:
        """Copy ``paths`` into the node's outbox (each checked to be a DICOM instance first).

        Raises:
            UnreadableFileError: A file is missing or not DICOM (nothing is copied then).
        """
        blobs: list[tuple[str, bytes]] = []
        for p in paths:
            path = Path(p)
            try:
                data = path.read_bytes()
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                sop = str(ds.SOPInstanceUID)
                _ = ds.SOPClassUID
            except (OSError, pydicom.errors.InvalidDicomError, AttributeError) as exc:
                raise UnreadableFileError(f"cannot be sent: not a readable DICOM instance ({type(exc).__name__}).",
                                          path=path, fix="send DICOM files (with SOP UIDs).") from None
            blobs.append((sop, data))
        folder = self.node_folder(node_name)
        out = []
        for sop, data in blobs:
            target = folder / f"{sop}.dcm"
            atomic_write_bytes(target, data)
            out.append(target)
        if not (folder / "node.json").exists():
            self._write_meta(node_name, "")
        return out

    def pending(self, node_name: str | None = None) -> list[PendingItem]:
        """Objects still waiting (all nodes, or one)."""
        folders = [self.node_folder(node_name)] if node_name else sorted(p for p in self.folder.glob("*") if p.is_dir())
        items = []
        for folder in folders:
            try:
                meta = json.loads((folder / "node.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for path in sorted(folder.glob("*.dcm")):
                items.append(PendingItem(path=path, node=str(meta.get("node", "")), sop_uid=path.stem,
                                         last_error=str(meta.get("last_error", ""))))
        return items

    def nodes(self) -> list[str]:
        """Names/specs of the nodes that have pending objects."""
        return sorted({item.node for item in self.pending()})

    def flush(self, node: PacsNode, sender: Sender) -> SendReport:
        """Send everything pending for ``node``; acknowledged copies are removed, the rest stay."""
        report = SendReport(node=node.name)
        items = self.pending(node.name)
        errors: list[str] = []
        for start in range(0, len(items), BATCH):
            batch = items[start: start + BATCH]
            try:
                ok, failed = sender(node, [i.path for i in batch])
            except PacsError as exc:
                errors.append(str(exc))
                break
            for item in batch:
                if item.sop_uid in ok:
                    item.path.unlink(missing_ok=True)
                    report.sent.append(item.sop_uid)
                elif item.sop_uid in failed:
                    errors.append(f"{item.sop_uid}: {failed[item.sop_uid]}")
                else:
                    errors.append(f"{item.sop_uid}: the PACS did not acknowledge it")
        report.pending = [i.path for i in self.pending(node.name)]
        report.error = "; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
        if report.pending:
            self._write_meta(node.name, report.error or "not acknowledged")
            log.warning("outbox: %d object(s) for %s kept: %s", len(report.pending), node.name, report.error)
        else:
            self._write_meta(node.name, "")
        return report


def raise_if_pending(report: SendReport, outbox: Outbox) -> None:
    """Raise :class:`SendError` naming the outbox when a send left objects behind."""
    if report.pending:
        raise SendError(f"{len(report.pending)} object(s) for {report.node!r} could not be sent and wait in the "
                        f"outbox: {report.error}", path=outbox.node_folder(report.node),
                        fix="run `radlens pacs outbox --retry` (or send again) when the PACS is back.")
