"""The PACS client (Qt-free): nodes, test connection, query, retrieve, send through an outbox.

One door for the CLI, the viewer's PACS dock and other plugins::

    from engine import pacs
    node = pacs.resolve_node("hospital")              # a configured name, or a URL spec
    pacs.echo(node)                                   # C-ECHO or QIDO; a typed error says what failed
    studies = pacs.find_studies(node, pacs.StudyQuery(patient_id="123", date_from="20240101"))
    series = pacs.find_series(node, studies[0].study_uid)
    result = pacs.retrieve(node, studies[0].study_uid, out=folder, on_file=print)   # WADO-RS / C-GET / C-MOVE
    report = pacs.send_files(node, ["sr.dcm", "map.dcm"])    # through the outbox; nothing is lost

See ``docs/pacs.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from engine.errors import CancelledError
from engine.pacs.config import (
    Method,
    PacsConfig,
    PacsNode,
    StorageScp,
    cache_dir,
    config_dir,
    parse_node_spec,
)
from engine.pacs.errors import (
    AssociationRejectedError,
    AuthenticationError,
    CertificateError,
    ConnectionRefusedPacsError,
    NodeConfigError,
    PacsConnectionError,
    PacsError,
    PacsTimeoutError,
    RetrieveError,
    SecretError,
    SendError,
)
from engine.pacs.outbox import Outbox, PendingItem, SendReport, raise_if_pending
from engine.pacs.sink import InstanceSink
from engine.pacs.types import (
    CancelledFn,
    FileFn,
    ProgressFn,
    RetrieveResult,
    SeriesHit,
    StudyHit,
    StudyQuery,
    parse_date_range,
)

if TYPE_CHECKING:
    from engine.pacs.web import WebClient

T = TypeVar("T")

__all__ = [
    "AssociationRejectedError", "AuthenticationError", "CertificateError", "ConnectionRefusedPacsError",
    "NodeConfigError", "Outbox", "PacsConfig", "PacsConnectionError", "PacsError", "PacsNode", "PacsTimeoutError",
    "PendingItem", "RetrieveError", "RetrieveResult", "SecretError", "SendError", "SendReport", "SeriesHit",
    "StorageScp", "StudyHit", "StudyQuery", "cache_dir", "config_dir", "default_method", "echo", "find_series",
    "find_studies", "parse_date_range", "parse_node_spec", "raise_if_pending", "resolve_node", "retrieve",
    "retry_outbox", "send_files",
]

NodeSpec = str | PacsNode


def resolve_node(spec: NodeSpec, config: PacsConfig | None = None) -> PacsNode:
    """A configured node's name, a URL spec, or a node -> the node."""
    return (config or PacsConfig.load()).resolve(spec)


def echo(spec: NodeSpec, config: PacsConfig | None = None) -> PacsNode:
    """Test the connection: C-ECHO (DIMSE) or a one-result QIDO search (DICOMweb).

    Raises:
        PacsError: A subclass saying what failed: ConnectionRefusedPacsError, PacsTimeoutError,
            AssociationRejectedError (wrong AE title), AuthenticationError (401/403),
            CertificateError, SecretError.
    """
    node = resolve_node(spec, config)
    _on_node(node, lambda dimse: dimse.echo(node), lambda client: client.echo())
    return node


def _on_node(node: PacsNode, dimse_call: Callable[[ModuleType], T], web_call: Callable[[WebClient], T]) -> T:
    """``dimse_call(engine.pacs.dimse)`` for a DIMSE node, else ``web_call`` with a DICOMweb client
    that is closed afterwards (each protocol's module is imported only when used)."""
    if node.kind == "dimse":
        from engine.pacs import dimse

        return dimse_call(dimse)
    from engine.pacs.web import WebClient

    client = WebClient(node)
    try:
        return web_call(client)
    finally:
        client.close()


def find_studies(spec: NodeSpec, query: StudyQuery, config: PacsConfig | None = None) -> list[StudyHit]:
    """Studies matching ``query`` (C-FIND or QIDO-RS), in the PACS's order."""
    node = resolve_node(spec, config)
    return _on_node(node, lambda dimse: dimse.find_studies(node, query), lambda client: client.find_studies(query))


def find_series(spec: NodeSpec, study_uid: str, config: PacsConfig | None = None) -> list[SeriesHit]:
    """The series of a study with their image counts."""
    node = resolve_node(spec, config)
    return _on_node(node, lambda dimse: dimse.find_series(node, study_uid),
                    lambda client: client.find_series(study_uid))


def default_method(node: PacsNode) -> Method:
    return "wadors" if node.kind == "dicomweb" else "cget"


def retrieve(spec: NodeSpec, study_uid: str, series_uid: str | None = None, *, out: str | Path | None = None,
             method: Method | None = None, on_file: FileFn | None = None, progress: ProgressFn | None = None,
             cancelled: CancelledFn | None = None, config: PacsConfig | None = None) -> RetrieveResult:
    """Retrieve a study (or one series) into ``out`` (default: the user's cache folder).

    Instances are written atomically one by one to ``out/<study>/<series>/<sop>.dcm``; ``on_file``
    gets each path as soon as it is complete, so the first image can be opened before the study
    has arrived. On failure or cancellation the instances this call created are removed again.

    Args:
        method: ``"wadors"`` (DICOMweb nodes), ``"cget"`` or ``"cmove"`` (DIMSE nodes; C-MOVE sends
            to our storage SCP, ``config.storage_scp``); default: WADO-RS or C-GET.

    Raises:
        RetrieveError: The PACS stopped or refused part of it (nothing partial is left).
        CancelledError: ``cancelled()`` became true.
        PacsError: Connection, AE title or authentication failures, as :func:`echo`.
    """
    config = config or PacsConfig.load()
    node = resolve_node(spec, config)
    method = method or default_method(node)
    if (method == "wadors") != (node.kind == "dicomweb"):
        raise NodeConfigError(f"method {method} does not work with the {node.kind} node {node.name!r}.",
                              fix="use wadors with DICOMweb nodes, cget or cmove with DIMSE nodes.")
    folder = Path(out) if out is not None else cache_dir()
    sink = InstanceSink(folder, on_file=on_file, study_uid=study_uid)
    stop: CancelledFn = cancelled or (lambda: False)
    t0 = time.perf_counter()
    try:
        if method == "wadors":
            _retrieve_web(node, study_uid, series_uid, sink, progress, stop)
        else:
            from engine.pacs import dimse

            if method == "cget":
                dimse.retrieve_cget(node, study_uid, series_uid, sink, None, progress, stop)
            else:
                dimse.retrieve_cmove(node, config.storage_scp, study_uid, series_uid, sink, None, progress, stop)
        if stop():
            raise CancelledError(f"the retrieval of study {study_uid} was cancelled.")
    except PacsError as exc:
        removed = sink.discard()
        if not removed:
            raise
        raise RetrieveError(f"the retrieval of study {study_uid} from {node.name!r} ({method}) stopped after {removed} "
                            f"instance(s): {exc.problem} The {removed} instance(s) already received were removed.",
                            fix=exc.fix or "retry when the PACS is reachable.") from exc
    except BaseException:
        sink.discard()
        raise
    if not sink.files:
        raise RetrieveError(f"PACS node {node.name!r} sent no instance of study {study_uid}"
                            + (f", series {series_uid}" if series_uid else "") + ".",
                            fix="check the UIDs with `radlens pacs find`.")
    if progress is not None:
        progress(len(sink.files), len(sink.files), f"{len(sink.files)} instance(s) retrieved")
    return RetrieveResult(folder=folder / study_uid, files=tuple(sink.files), method=method,
                          seconds=time.perf_counter() - t0)


def _retrieve_web(node: PacsNode, study_uid: str, series_uid: str | None, sink: InstanceSink,
                  progress: ProgressFn | None, cancelled: CancelledFn) -> None:
    from engine.pacs.web import WebClient

    client = WebClient(node)
    try:
        series = client.find_series(study_uid)
        if series_uid:
            series = [s for s in series if s.series_uid == series_uid]
        if not series:
            raise RetrieveError(f"PACS node {node.name!r} knows no series" + (f" {series_uid}" if series_uid else "")
                                + f" of study {study_uid}.", fix="check the UIDs with `radlens pacs find`.")
        counts = [s.n_instances for s in series]
        total = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
        for s in series:
            before = len(sink.files)
            n = client.retrieve_series(study_uid, s.series_uid, sink, cancelled)
            if cancelled():
                return
            if s.n_instances is not None and n < s.n_instances:
                raise RetrieveError(f"PACS node {node.name!r} sent {n} of the {s.n_instances} instances of "
                                    f"series {s.series_uid}.", fix="retry; the PACS may still be receiving it.")
            if progress is not None:
                progress(len(sink.files), total, f"series {s.number or ''} done ({len(sink.files) - before} images)")
    finally:
        client.close()


def _sender(node: PacsNode, files: Sequence[Path]) -> tuple[set[str], dict[str, str]]:
    return _on_node(node, lambda dimse: dimse.store(node, files), lambda client: client.store(files))


def send_files(spec: NodeSpec, paths: Sequence[str | Path], outbox: Outbox | str | Path | None = None,
               config: PacsConfig | None = None) -> SendReport:
    """Send DICOM files by STOW-RS or C-STORE through the outbox.

    The files are copied into the node's outbox first; then everything pending for that node is
    sent (older failures too); a copy is removed only once the PACS acknowledged it. A PACS that
    is down does not raise: the report lists what stays pending and why (``report.ok`` is False).

    Raises:
        UnreadableFileError: A path is not a DICOM instance (nothing is queued).
        NodeConfigError: The node is unknown.
    """
    node = resolve_node(spec, config)
    box = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
    box.add(node.name, paths)
    return box.flush(node, _sender)


def retry_outbox(outbox: Outbox | str | Path | None = None, config: PacsConfig | None = None,
                 node: NodeSpec | None = None) -> list[SendReport]:
    """Send what waits in the outbox (for every node, or one)."""
    config = config or PacsConfig.load()
    box = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
    names = [resolve_node(node, config).name] if node is not None else box.nodes()
    reports = []
    for name in names:
        try:
            target = resolve_node(name, config)
        except NodeConfigError as exc:
            reports.append(SendReport(node=name, pending=[i.path for i in box.pending(name)], error=str(exc)))
            continue
        reports.append(box.flush(target, _sender))
    return reports
