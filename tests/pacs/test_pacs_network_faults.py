"""Failures Orthanc cannot stage: a TLS certificate that does not verify, a server that never answers."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine import pacs


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (no CA knows it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "radlens-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Qido(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture()
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS QIDO stub on 127.0.0.1 with a self-signed certificate: (base URL, certificate)."""
    cert, key = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Qido)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/dicom-web", cert
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_certificate_is_verified_by_default(https_server: tuple[str, Path], tmp_path: Path) -> None:
    url, cert = https_server
    node = pacs.PacsNode(name="tls", kind="dicomweb", base_url=url, timeout_s=5)
    with pytest.raises(pacs.CertificateError, match="certificate"):
        pacs.echo(node)
    pacs.echo(pacs.config.with_changes(node, ca_bundle=str(cert)))  # the hospital's CA bundle: verified, fine
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):  # verification off: test servers only
        assert pacs.find_studies(pacs.config.with_changes(node, verify_tls=False), pacs.StudyQuery()) == []


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_a_server_that_never_answers_times_out(silent_port: int) -> None:
    web = pacs.PacsNode(name="silent-web", kind="dicomweb", base_url=f"http://127.0.0.1:{silent_port}/dw",
                        timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(pacs.PacsTimeoutError, match=r"did not answer within 0\.5 s"):
        pacs.echo(web)
    dimse = pacs.PacsNode(name="silent", kind="dimse", ae_title="PACS", host="127.0.0.1", port=silent_port,
                          timeout_s=0.5)
    with pytest.raises(pacs.PacsConnectionError, match="no DICOM association"):
        pacs.echo(dimse)
    assert time.monotonic() - t0 < 10
