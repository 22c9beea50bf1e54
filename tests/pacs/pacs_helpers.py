"""Fixtures of the PACS tests: an in-memory keyring, a real Orthanc on 127.0.0.1 (one per session,
plus a function-scoped one for destructive cases), the demo study and a 3-series study in it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from orthanc_server import (
    DEMO,
    ORTHANC_AET,
    OUR_AET,
    PASSWORD,
    USER,
    MemoryKeyring,
    OrthancServer,
    free_port,
    make_series_study,
)

from engine import pacs
from engine.pacs import secrets
from engine.pacs.dimse import StorageServer

__all__ = ["DEMO", "MemoryKeyring", "make_config"]


@pytest.fixture(scope="session")
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def make_config(server: OrthancServer, folder: Path) -> pacs.PacsConfig:
    """A configuration with a DICOMweb node (basic auth, password in the keyring) and a DIMSE node."""
    config = pacs.PacsConfig(path=folder / "pacs.json",
                             storage_scp=pacs.StorageScp(ae_title=OUR_AET, host="127.0.0.1", port=server.scp_port))
    config.add(pacs.PacsNode(name="orthanc-web", kind="dicomweb", base_url=server.dicomweb_url, auth="basic",
                             username=USER, secret="keyring", timeout_s=20))
    config.add(pacs.PacsNode(name="orthanc", kind="dimse", ae_title=ORTHANC_AET, host="127.0.0.1",
                             port=server.dicom_port, our_ae_title=OUR_AET, timeout_s=20))
    secrets.store_in_keyring("orthanc-web", PASSWORD)
    return config


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, memory_keyring: MemoryKeyring) -> Iterator[OrthancServer]:
    """One Orthanc for the session with the demo study and a 3-series study uploaded."""
    folder = tmp_path_factory.mktemp("orthanc")
    server = OrthancServer(folder / "server", free_port())
    server.start()
    server.series_files = make_series_study(folder / "series-study")
    server.upload(sorted(DEMO.glob("*.dcm")) + server.series_files)
    yield server
    server.kill()
    StorageServer.shutdown_all()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def config(orthanc: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pacs.PacsConfig:
    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "settings.json"))
    monkeypatch.setenv("RADLENS_CACHE", str(tmp_path / "cache"))
    cfg = make_config(orthanc, tmp_path)
    cfg.save()
    return cfg


@pytest.fixture()
def fresh_orthanc(tmp_path: Path, memory_keyring: MemoryKeyring) -> Iterator[OrthancServer]:
    """An Orthanc of its own for destructive cases (stopped, killed), with the 3-series study."""
    server = OrthancServer(tmp_path / "fresh", free_port())
    server.start()
    server.series_files = make_series_study(tmp_path / "fresh-study")
    server.upload(server.series_files)
    yield server
    server.kill()
