"""DIMSE with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE to our own storage SCP, C-STORE.

Before associating, a plain TCP connection tells a refused port from a silent one
(:class:`ConnectionRefusedPacsError` vs :class:`PacsTimeoutError`); a rejected association
(wrong called AE title, or our calling AE title unknown to the PACS) is an
:class:`AssociationRejectedError`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from engine.pacs.config import PacsNode, StorageScp
from engine.pacs.errors import (
    AssociationRejectedError,
    ConnectionRefusedPacsError,
    PacsConnectionError,
    PacsError,
    PacsTimeoutError,
    RetrieveError,
)
from engine.pacs.sink import InstanceSink
from engine.pacs.types import CancelledFn, ProgressFn, SeriesHit, StudyHit, StudyQuery

log = logging.getLogger(__name__)
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99",
]
STORAGE_CLASSES = [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
MAX_PDU = 1 << 20  # what we accept per PDU; pynetdicom's default (16 kB) makes C-GET/C-MOVE crawl
_OK_STORE = {0x0000, 0xB000, 0xB006, 0xB007}


def probe(node: PacsNode) -> None:
    """Open and close a TCP connection: refused, timed out, or fine."""
    where = f"PACS node {node.name!r} ({node.host}:{node.port})"
    try:
        with socket.create_connection((node.host, int(node.port)), timeout=node.timeout_s):
            pass
    except ConnectionRefusedError:
        raise ConnectionRefusedPacsError(f"{where} refused the connection.",
                                         fix="is the PACS running, the port right, no firewall rejecting?") from None
    except TimeoutError:
        raise PacsTimeoutError(f"{where} did not answer within {node.timeout_s:g} s.",
                               fix="check the host name/address, the VPN and firewalls.") from None
    except OSError as exc:
        raise PacsConnectionError(f"{where} cannot be reached ({exc.strerror or exc}).",
                                  fix="check the host name and the network.") from None


def _ae(node: PacsNode) -> AE:
    ae = AE(ae_title=node.our_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    ae.connection_timeout = node.timeout_s
    return ae


@contextlib.contextmanager
def associate(node: PacsNode, contexts: list[Any], ext_neg: list[Any] | None = None,
              evt_handlers: list[Any] | None = None) -> Iterator[Association]:
    """An established association with ``node`` (released on exit), or a typed error."""
    probe(node)
    ae = _ae(node)
    ae.requested_contexts = contexts
    assoc = ae.associate(node.host, int(node.port), ae_title=node.ae_title, ext_neg=ext_neg, evt_handlers=evt_handlers,
                         max_pdu=MAX_PDU)
    if not assoc.is_established:
        if assoc.is_rejected:
            raise AssociationRejectedError(
                f"PACS node {node.name!r} ({node.host}:{node.port}) rejected the association: called AE title "
                f"{node.ae_title!r}, our (calling) AE title {node.our_ae_title!r}.",
                fix="check the PACS's AE title, and that the PACS lists our AE title (and host) as a known modality.")
        raise PacsConnectionError(f"PACS node {node.name!r} ({node.host}:{node.port}) accepted the connection but "
                                  "no DICOM association was made (aborted or timed out).",
                                  fix="check that the port is the PACS's DICOM port, not its web port.")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(node: PacsNode) -> None:
    """C-ECHO; raises a typed error saying what failed."""
    with associate(node, [build_context(Verification)]) as assoc:
        status = assoc.send_c_echo()
        if not status or int(status.get("Status", -1)) != 0:
            raise PacsError(f"PACS node {node.name!r} did not confirm the C-ECHO.", fix="check the PACS's logs.")


def _find(node: PacsNode, query: Dataset) -> list[Dataset]:
    out: list[Dataset] = []
    with associate(node, [build_context(StudyRootQueryRetrieveInformationModelFind)]) as assoc:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:  # no answer: the PACS aborted the association
                raise AssociationRejectedError(
                    f"PACS node {node.name!r} aborted the association instead of answering the C-FIND "
                    f"(our AE title {node.our_ae_title!r}).",
                    fix="ask the PACS administrator to allow queries from our AE title (and host).")
            code = int(status.get("Status", -1))
            if code in (0xFF00, 0xFF01) and identifier is not None:
                out.append(identifier)
            elif code != 0:
                raise PacsError(f"PACS node {node.name!r} refused the C-FIND (status 0x{code & 0xFFFF:04X}).",
                                fix="check that the PACS allows queries from our AE title.")
    return out


def find_studies(node: PacsNode, query: StudyQuery) -> list[StudyHit]:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = query.patient_id
    ds.PatientName = query.patient_name
    ds.StudyDate = query.date_range
    ds.ModalitiesInStudy = query.modality
    ds.AccessionNumber = query.accession
    ds.StudyInstanceUID = query.study_uid
    ds.StudyDescription = ""
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    hits = []
    for d in _find(node, ds)[: query.limit]:
        mods = d.get("ModalitiesInStudy", "")
        hits.append(StudyHit(
            study_uid=str(d.get("StudyInstanceUID", "")), patient_id=str(d.get("PatientID", "")),
            patient_name=str(d.get("PatientName", "")), study_date=str(d.get("StudyDate", "")),
            description=str(d.get("StudyDescription", "")), accession=str(d.get("AccessionNumber", "")),
            modalities=_values(mods), n_series=_int(d.get("NumberOfStudyRelatedSeries")),
            n_instances=_int(d.get("NumberOfStudyRelatedInstances"))))
    return hits


def find_series(node: PacsNode, study_uid: str) -> list[SeriesHit]:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    return [SeriesHit(series_uid=str(d.get("SeriesInstanceUID", "")), study_uid=study_uid,
                      modality=str(d.get("Modality", "")), number=_int(d.get("SeriesNumber")),
                      description=str(d.get("SeriesDescription", "")),
                      n_instances=_int(d.get("NumberOfSeriesRelatedInstances")))
            for d in _find(node, ds)]


def _values(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | pydicom.multival.MultiValue):
        return tuple(str(v) for v in value)
    return (str(value),) if value else ()


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _retrieve_identifier(study_uid: str, series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _store_handler(sink: InstanceSink) -> Any:
    def handle(event: Any) -> int:
        try:
            sink.add_bytes(event.encoded_dataset())
        except Exception as exc:  # the handler must answer with a status, never raise into pynetdicom
            log.warning("could not store an incoming instance: %s", exc)
            return 0xA700
        return 0x0000

    return handle


def _drive(node: PacsNode, responses: Iterator[tuple[Dataset, Dataset | None]], assoc: Association,
           sink: InstanceSink, total: int | None, progress: ProgressFn | None, cancelled: CancelledFn,
           what: str) -> None:
    """Consume C-GET/C-MOVE responses: progress, cancellation, and the final status checked."""
    final: Dataset | None = None
    for status, _identifier in responses:
        if not status:  # pynetdicom yields an empty status when the association broke
            raise RetrieveError(f"PACS node {node.name!r} stopped answering during the {what} "
                                f"after {len(sink.files)} instance(s).", fix="retry when the PACS is back.")
        code = int(status.get("Status", -1))
        remaining = _int(status.get("NumberOfRemainingSuboperations"))
        done = _int(status.get("NumberOfCompletedSuboperations"))
        if code in (0xFF00, 0xFF01):
            if total is None and remaining is not None and done is not None:
                total = remaining + done + 1
            if progress is not None:
                progress(len(sink.files), total, f"{what}: {len(sink.files)} instance(s)")
            if cancelled():
                assoc.abort()
                return
            continue
        final = status
    if final is None:
        raise RetrieveError(f"PACS node {node.name!r} ended the {what} without a final status.")
    code = int(final.get("Status", -1))
    failed = _int(final.get("NumberOfFailedSuboperations")) or 0
    if code != 0 or failed:
        raise RetrieveError(f"PACS node {node.name!r} ended the {what} with status 0x{code & 0xFFFF:04X} "
                            f"({failed} sub-operation(s) failed) after {len(sink.files)} instance(s).",
                            fix="for C-MOVE the PACS must know our AE title, host and port; see docs/pacs.md.")


def sop_classes_in_study(node: PacsNode, study_uid: str) -> list[str]:
    """The study's SOP classes (C-FIND SOPClassesInStudy), or [] when the PACS does not say."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    ds.SOPClassesInStudy = ""
    try:
        found = _find(node, ds)
    except PacsError:
        return []
    return sorted({str(uid) for d in found for uid in _values(d.get("SOPClassesInStudy", ""))})


def retrieve_cget(node: PacsNode, study_uid: str, series_uid: str | None, sink: InstanceSink,
                  total: int | None, progress: ProgressFn | None, cancelled: CancelledFn) -> None:
    """C-GET the study or series into ``sink`` over one association.

    C-GET needs a presentation context (with the SCP role) for every SOP class the PACS will send:
    the study's own classes when the PACS names them (negotiating all 120 storage classes costs
    about 0.4 s before the first image), else every storage class.
    """
    classes = sop_classes_in_study(node, study_uid) or STORAGE_CLASSES
    classes = classes[:126]
    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
    contexts += [build_context(uid, TRANSFER_SYNTAXES) for uid in classes]
    roles = [build_role(uid, scp_role=True) for uid in classes]
    handlers = [(evt.EVT_C_STORE, _store_handler(sink))]
    with associate(node, contexts, ext_neg=roles, evt_handlers=handlers) as assoc:
        identifier = _retrieve_identifier(study_uid, series_uid)
        responses = assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
        _drive(node, responses, assoc, sink, total, progress, cancelled, "C-GET")


class StorageServer:
    """RadLens's storage SCP, the C-MOVE destination: one per (host, port), started on first use.

    Incoming instances go to the sink registered for their study; others are refused.
    """

    _servers: ClassVar[dict[tuple[str, int], StorageServer]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, scp: StorageScp) -> None:
        self.scp = scp
        self.sinks: dict[str, InstanceSink] = {}
        ae = AE(ae_title=scp.ae_title)
        ae.maximum_pdu_size = MAX_PDU
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid, TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        try:
            server = ae.start_server((scp.host, int(scp.port)), block=False,
                                     evt_handlers=[(evt.EVT_C_STORE, self._store)])
        except OSError as exc:
            raise PacsError(f"RadLens's storage SCP cannot listen on {scp.host}:{scp.port} ({exc.strerror or exc}).",
                            fix="choose another port in the PACS settings (and tell the PACS administrator).") from None
        assert server is not None  # block=False returns the server
        self.server = server

    @classmethod
    def get(cls, scp: StorageScp) -> StorageServer:
        with cls._lock:
            key = (scp.host, int(scp.port))
            if key not in cls._servers:
                cls._servers[key] = StorageServer(scp)
            return cls._servers[key]

    @classmethod
    def shutdown_all(cls) -> None:
        with cls._lock:
            for server in cls._servers.values():
                server.server.shutdown()
            cls._servers.clear()

    def _store(self, event: Any) -> int:
        study = str(event.dataset.get("StudyInstanceUID", ""))
        sink = self.sinks.get(study)
        if sink is None:
            log.warning("storage SCP: refused an instance of study %s nobody is retrieving", study)
            return 0xA801
        return int(_store_handler(sink)(event))


def retrieve_cmove(node: PacsNode, scp: StorageScp, study_uid: str, series_uid: str | None, sink: InstanceSink,
                   total: int | None, progress: ProgressFn | None, cancelled: CancelledFn) -> None:
    """C-MOVE the study or series to our storage SCP (which the PACS must know as ``node.our_ae_title``)."""
    server = StorageServer.get(scp)
    if study_uid in server.sinks:
        raise RetrieveError(f"study {study_uid} is already being retrieved by C-MOVE.", fix="wait for it to finish.")
    server.sinks[study_uid] = sink
    try:
        with associate(node, [build_context(StudyRootQueryRetrieveInformationModelMove)]) as assoc:
            responses = assoc.send_c_move(_retrieve_identifier(study_uid, series_uid), node.our_ae_title,
                                          StudyRootQueryRetrieveInformationModelMove)
            _drive(node, responses, assoc, sink, total, progress, cancelled, "C-MOVE")
    finally:
        server.sinks.pop(study_uid, None)


def store(node: PacsNode, files: Sequence[Path]) -> tuple[set[str], dict[str, str]]:
    """C-STORE ``files``; returns (acknowledged SOP Instance UIDs, {failed UID: reason})."""
    datasets = [(Path(f), pydicom.dcmread(f)) for f in files]
    wanted: dict[str, set[str]] = {}
    for _path, ds in datasets:
        wanted.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    plain = {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
    contexts = [build_context(uid, sorted(ts | plain)) for uid, ts in wanted.items()]
    ok: set[str] = set()
    failed: dict[str, str] = {}
    with associate(node, contexts) as assoc:
        for path, ds in datasets:
            uid = str(ds.SOPInstanceUID)
            try:
                status = assoc.send_c_store(ds)
            except (ValueError, RuntimeError) as exc:  # no accepted context for this SOP class / syntax
                failed[uid] = f"{path.name}: {exc}"
                continue
            code = int(status.get("Status", -1)) if status else -1
            if code in _OK_STORE:
                ok.add(uid)
            else:
                failed[uid] = f"{path.name}: status 0x{code & 0xFFFF:04X}" if code >= 0 else f"{path.name}: no answer"
    return ok, failed
