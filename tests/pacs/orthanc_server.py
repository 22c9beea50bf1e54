"""A real Orthanc on 127.0.0.1 for the PACS tests: temporary config, free ports, bounded waits.

Orthanc 1.10 and its DICOMweb plugin are Debian packages (``orthanc``, ``orthanc-dicomweb``) that
``.ci/run`` installs; this module starts the server binary with a JSON configuration written to a
temporary folder (storage, index and log there too) and stops it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import keyring
import keyring.backend
import pydicom
import requests
from pydicom.uid import generate_uid

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "images"
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
USER, PASSWORD = "radlens", "s3cret-Pa55word-for-tests"
ORTHANC_AET = "ORTHANC"
OUR_AET = "RADLENS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dicomweb_plugin() -> Path:
    for folder in PLUGIN_DIRS:
        for path in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return path
    raise FileNotFoundError("the Orthanc DICOMweb plugin is not installed (Debian package orthanc-dicomweb)")


class OrthancServer:
    """One Orthanc process. ``start()``/``stop()`` may be called again (same ports, same storage)."""

    def __init__(self, folder: Path, scp_port: int) -> None:
        self.folder = folder
        self.http_port, self.dicom_port, self.scp_port = free_port(), free_port(), scp_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.series_files: list[Path] = []  # what the fixtures uploaded
        config = {
            "Name": "radlens-test",
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ORTHANC_AET,
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [str(dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Ssl": False},
            "DicomModalities": {"radlens": [OUR_AET, "127.0.0.1", scp_port]},
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            "DicomCheckModalityHost": False,
            "DicomScuTimeout": 5,
            "DicomScpTimeout": 10,
            "MaximumPduLength": 131072,  # the largest Orthanc accepts (default 16 kB)
            "SaveJobs": False,
            "StorageCompression": False,
            "HttpThreadsCount": 4,
            "ConcurrentJobs": 1,
            "LogExportedResources": False,
            "StableAge": 1,
            "OverwriteInstances": True,
        }
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "orthanc.json"
        self.config_path.write_text(json.dumps(config, indent=1))
        self.log_path = folder / "orthanc.log"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.web_url}/dicom-web"

    def start(self, timeout_s: float = 20.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([ORTHANC, str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.folder)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.web_url}/system", auth=(USER, PASSWORD), timeout=1).ok:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer /system within {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crashed or unplugged server would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def upload(self, paths: list[Path]) -> list[str]:
        """POST each file to /instances; returns Orthanc's instance ids."""
        ids = []
        with requests.Session() as s:
            s.auth = (USER, PASSWORD)
            for path in paths:
                r = s.post(f"{self.web_url}/instances", data=Path(path).read_bytes(), timeout=30)
                r.raise_for_status()
                ids.append(r.json()["ID"])
        return ids

    def instance_count(self) -> int:
        r = requests.get(f"{self.web_url}/statistics", auth=(USER, PASSWORD), timeout=5)
        r.raise_for_status()
        return int(r.json()["CountInstances"])


def make_series_study(folder: Path, n_series: int = 3, per_series: int = 4) -> list[Path]:
    """The demo images rewritten as one study of ``n_series`` series (new UIDs, one patient)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(DEMO.glob("*.dcm"))
    study = generate_uid()
    out = []
    for s in range(n_series):
        series = generate_uid()
        for i in range(per_series):
            ds = pydicom.dcmread(sources[(s * per_series + i) % len(sources)])
            ds.PatientID, ds.PatientName, ds.StudyDate = "SERIES3", "SERIES^THREE", "20190315"
            ds.AccessionNumber = "ACC42"
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = study, series, s + 1
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = i + 1
            path = folder / f"s{s}_{i}.dcm"
            ds.save_as(path, enforce_file_format=True)
            out.append(path)
    return out


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps secrets in a dict (tests and screenshots never touch the user's keyring)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@contextlib.contextmanager
def app_with_local_orthanc(node: str, files: Sequence[Path] = (), prefix: str = "radlens-pacs-") -> Iterator[
        tuple[Path, OrthancServer]]:
    """For the screenshot scripts: a temporary RadLens home (settings, cache, an in-memory keyring)
    and an Orthanc on 127.0.0.1 with ``files`` uploaded, saved in the settings as the DICOMweb node
    ``node`` (basic auth, the password in the keyring) with our storage SCP. Yields (the temporary
    folder, the server); the server is killed and the folder removed afterwards."""
    from engine import pacs
    from engine.pacs import secrets

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["RADLENS_SETTINGS"] = str(tmp / "config" / "settings.json")
    os.environ["RADLENS_CACHE"] = str(tmp / "cache")
    keyring.set_keyring(MemoryKeyring())
    server = OrthancServer(tmp / "orthanc", free_port())
    server.start()
    try:
        if files:
            server.upload(list(files))
        config = pacs.PacsConfig.load()
        config.storage_scp = pacs.StorageScp(ae_title=OUR_AET, host="127.0.0.1", port=server.scp_port)
        config.add(pacs.PacsNode(name=node, kind="dicomweb", base_url=server.dicomweb_url, auth="basic",
                                 username=USER, secret="keyring"))
        config.save()
        secrets.store_in_keyring(node, PASSWORD)
        yield tmp, server
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
