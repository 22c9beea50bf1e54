"""DICOMweb: QIDO-RS searches, WADO-RS retrieval (streamed, one instance at a time), STOW-RS.

One :class:`requests.Session` per node carries its auth (basic or bearer, the secret read from the
keyring or environment when the session is made) and its TLS settings (verification on unless the
node turns it off; the node's CA bundle when given). Every failure becomes a typed
:class:`engine.pacs.errors.PacsError` naming the node; the secret is never in a message or a log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

from engine.pacs.config import PacsNode
from engine.pacs.errors import (
    AuthenticationError,
    CertificateError,
    ConnectionRefusedPacsError,
    PacsConnectionError,
    PacsError,
    PacsTimeoutError,
    RetrieveError,
)
from engine.pacs.secrets import secret_of
from engine.pacs.sink import InstanceSink
from engine.pacs.types import CancelledFn, SeriesHit, StudyHit, StudyQuery

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def session_for(node: PacsNode) -> requests.Session:
    """A requests session with the node's auth and TLS verification."""
    session = requests.Session()
    secret = secret_of(node)
    if node.auth == "basic" and secret is not None:
        session.auth = (node.username, secret)
    elif node.auth == "bearer" and secret is not None:
        session.headers["Authorization"] = f"Bearer {secret}"
    session.verify = verify_setting(node)
    return session


def verify_setting(node: PacsNode) -> bool | str:
    """requests' ``verify``: the node's CA bundle, True (system CAs) or False (test servers only).

    It is passed with every request too: a session's own ``verify`` loses against
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` in the environment, a request's does not.
    """
    return node.ca_bundle if (node.verify_tls and node.ca_bundle) else node.verify_tls


def classify(node: PacsNode, exc: BaseException, doing: str) -> PacsError:
    """A requests exception -> the typed error that says what failed."""
    where = f"PACS node {node.name!r} ({node.base_url})"
    if isinstance(exc, requests.exceptions.SSLError):
        return CertificateError(f"{where}: the TLS certificate could not be verified while {doing}.",
                                fix="give the hospital's CA bundle (--ca-bundle), or check the host name in the URL.")
    if isinstance(exc, requests.exceptions.Timeout):
        return PacsTimeoutError(f"{where} did not answer within {node.timeout_s:g} s while {doing}.",
                                fix="check the host, the VPN/firewall, or raise the node's timeout.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "refused" in text.lower() or "Errno 111" in text:
            return ConnectionRefusedPacsError(f"{where} refused the connection while {doing}.",
                                              fix="is the server running, and the port right?")
        return PacsConnectionError(f"{where}: the connection failed while {doing} ({type(exc).__name__}).",
                                   fix="check that the server is running and reachable.")
    return PacsError(f"{where}: {doing} failed ({type(exc).__name__}: {exc}).")


def check(node: PacsNode, response: requests.Response, doing: str) -> None:
    """Raise the typed error for an HTTP failure status."""
    where = f"PACS node {node.name!r} ({node.base_url})"
    if response.status_code in (401, 403):
        raise AuthenticationError(f"{where} answered {response.status_code} while {doing}: "
                                  "the user name, password or token is wrong or missing.",
                                  fix="set the node's credentials again (the password goes to the keyring).")
    if response.status_code >= 400:
        raise PacsError(f"{where} answered HTTP {response.status_code} while {doing}.",
                        fix="check the base URL (it must be the DICOMweb root, e.g. …/dicom-web).")


class WebClient:
    """The DICOMweb operations on one node."""

    def __init__(self, node: PacsNode) -> None:
        self.node = node
        self.base = node.base_url.rstrip("/")
        self.session = session_for(node)

    def close(self) -> None:
        self.session.close()

    def _get(self, path: str, doing: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.get(f"{self.base}{path}", timeout=self.node.timeout_s,
                                        verify=verify_setting(self.node), **kwargs)
        except requests.RequestException as exc:
            raise classify(self.node, exc, doing) from None
        check(self.node, response, doing)
        return response

    def _json(self, path: str, params: dict[str, Any], doing: str) -> list[dict[str, Any]]:
        response = self._get(path, doing, params=params, headers={"Accept": "application/dicom+json"})
        if response.status_code == 204 or not response.content.strip():
            return []
        try:
            doc = response.json()
        except ValueError:
            raise PacsError(f"PACS node {self.node.name!r} answered {doing} with something that is not DICOM JSON.",
                            fix="check the base URL (it must be the DICOMweb root).") from None
        return list(doc) if isinstance(doc, list) else []

    # --- QIDO -------------------------------------------------------------------------------------
    def echo(self) -> None:
        """A minimal QIDO search: reachable, authorised, speaks DICOMweb."""
        self._json("/studies", {"limit": 1}, "testing the connection")

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        params: dict[str, Any] = {"limit": query.limit, "fuzzymatching": "false",
                                  "includefield": "00081030,00201206,00201208,00080061"}
        for key, value in (("PatientID", query.patient_id), ("PatientName", query.patient_name),
                           ("StudyDate", query.date_range), ("ModalitiesInStudy", query.modality),
                           ("AccessionNumber", query.accession), ("StudyInstanceUID", query.study_uid)):
            if value:
                params[key] = value
        return [_study_hit(d) for d in self._json("/studies", params, "searching studies")]

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        docs = self._json(f"/studies/{study_uid}/series", {"includefield": "0008103E,00201209"}, "listing series")
        return [_series_hit(d, study_uid) for d in docs]

    # --- WADO -------------------------------------------------------------------------------------
    def retrieve_series(self, study_uid: str, series_uid: str, sink: InstanceSink, cancelled: CancelledFn) -> int:
        """Stream one series into ``sink``; returns how many instances arrived."""
        doing = f"retrieving series {series_uid}"
        response = self._get(f"/studies/{study_uid}/series/{series_uid}", doing, stream=True,
                             headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        n = 0
        try:
            for part in iter_multipart(response):
                sink.add_bytes(part)
                n += 1
                if cancelled():
                    break
        except requests.RequestException as exc:
            raise RetrieveError(f"{classify(self.node, exc, doing)} The stream broke after {n} instance(s).",
                                fix="retry when the PACS is back.") from None
        finally:
            response.close()
        return n

    # --- STOW -------------------------------------------------------------------------------------
    def store(self, files: Sequence[Path], study_uid: str | None = None) -> tuple[set[str], dict[str, str]]:
        """STOW-RS ``files`` in one request; returns (acknowledged SOP UIDs, {failed SOP UID: reason})."""
        boundary = uuid.uuid4().hex
        body = bytearray()
        for path in files:
            body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            body += Path(path).read_bytes() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        url = f"{self.base}/studies" + (f"/{study_uid}" if study_uid else "")
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": "application/dicom+json"}
        doing = f"sending {len(files)} object(s)"
        try:
            response = self.session.post(url, data=bytes(body), headers=headers, timeout=max(self.node.timeout_s, 60),
                                         verify=verify_setting(self.node))
        except requests.RequestException as exc:
            raise classify(self.node, exc, doing) from None
        if response.status_code in (401, 403):
            check(self.node, response, doing)
        try:
            doc = response.json() if response.content.strip() else {}
        except ValueError:
            doc = {}
        ok = {_str(item, "00081155") for item in _seq(doc, "00081199")}
        failed = {_str(item, "00081155"): f"failure reason {_str(item, '00081197')}" for item in _seq(doc, "00081198")}
        if response.status_code >= 400 and not ok and not failed:
            raise PacsError(f"PACS node {self.node.name!r} answered HTTP {response.status_code} while {doing}.",
                            fix="check the base URL and that the PACS accepts STOW-RS.")
        return ok, failed


def iter_multipart(response: requests.Response) -> Iterator[bytes]:
    """The parts of a ``multipart/related`` response, one at a time, as they arrive."""
    content_type = response.headers.get("content-type", "")
    boundary = ""
    for item in content_type.split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise RetrieveError(f"the server answered with {content_type!r}, not a multipart DICOM stream.",
                            fix="check the base URL (it must be the DICOMweb root).")
    delimiter = b"\r\n--" + boundary.encode()
    data = bytearray(b"\r\n")  # the first boundary has no CRLF before it
    start = 0
    finished = False
    for chunk in response.iter_content(chunk_size=CHUNK):
        data += chunk
        while True:
            at = data.find(delimiter, start)
            if at < 0:
                start = max(0, len(data) - len(delimiter))
                break
            part = bytes(data[:at])
            rest = data[at + len(delimiter): at + len(delimiter) + 2]
            del data[:at + len(delimiter)]
            start = 0
            if part.strip():
                _head, sep, body = part.partition(b"\r\n\r\n")
                yield body if sep else part
            if rest == b"--":
                finished = True
                break
        if finished:
            return
    if not finished:
        raise RetrieveError("the multipart stream ended before its closing boundary (connection cut).",
                            fix="retry when the PACS is reachable again.")


def _first(doc: dict[str, Any], tag: str) -> Any:
    values = doc.get(tag, {}).get("Value") or []
    return values[0] if values else None


def _str(doc: dict[str, Any], tag: str) -> str:
    value = _first(doc, tag)
    if isinstance(value, dict):  # PersonName
        return str(value.get("Alphabetic", ""))
    return "" if value is None else str(value)


def _int(doc: dict[str, Any], tag: str) -> int | None:
    value = _first(doc, tag)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _seq(doc: Any, tag: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        return []
    return list(doc.get(tag, {}).get("Value") or [])


def _study_hit(d: dict[str, Any]) -> StudyHit:
    mods = tuple(str(m) for m in (d.get("00080061", {}).get("Value") or []))
    return StudyHit(study_uid=_str(d, "0020000D"), patient_id=_str(d, "00100020"), patient_name=_str(d, "00100010"),
                    study_date=_str(d, "00080020"), description=_str(d, "00081030"), accession=_str(d, "00080050"),
                    modalities=mods, n_series=_int(d, "00201206"), n_instances=_int(d, "00201208"))


def _series_hit(d: dict[str, Any], study_uid: str) -> SeriesHit:
    return SeriesHit(series_uid=_str(d, "0020000E"), study_uid=study_uid, modality=_str(d, "00080060"),
                     number=_int(d, "00200011"), description=_str(d, "0008103E"), n_instances=_int(d, "00201209"))

