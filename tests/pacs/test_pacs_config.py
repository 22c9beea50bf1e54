"""PACS nodes, their file and their secrets (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import pacs
from engine.pacs import secrets


def test_node_specs_parse_to_nodes() -> None:
    web = pacs.parse_node_spec("dicomweb+https://127.0.0.1:8443/dicom-web/")
    assert (web.kind, web.base_url, web.auth, web.verify_tls) == ("dicomweb", "https://127.0.0.1:8443/dicom-web",
                                                                 "none", True)
    assert pacs.parse_node_spec("dicomweb+http://127.0.0.1:8042/dicom-web").base_url == "http://127.0.0.1:8042/dicom-web"
    user = pacs.parse_node_spec("dicomweb+https://reader@127.0.0.1:8443/dicom-web")
    assert (user.auth, user.username, user.secret) == ("basic", "reader", "env:RADLENS_PACS_PASSWORD")
    dimse = pacs.parse_node_spec("dimse://ORTHANC@127.0.0.1:4242", our_ae_title="MYWS")
    assert (dimse.kind, dimse.ae_title, dimse.host, dimse.port, dimse.our_ae_title) == \
        ("dimse", "ORTHANC", "127.0.0.1", 4242, "MYWS")


@pytest.mark.parametrize("spec", ["http://127.0.0.1/dicom-web", "dimse://127.0.0.1:104", "dimse://AET@127.0.0.1",
                                  "dicomweb+https://user:pw@127.0.0.1/dicom-web", "dimse://THIS_AE_TITLE_IS_TOO_LONG@127.0.0.1:104",
                                  "nonexistent-node"])
def test_bad_specs_are_refused_with_a_fix(spec: str, tmp_path: Path) -> None:
    with pytest.raises(pacs.NodeConfigError) as info:
        pacs.PacsConfig(path=tmp_path / "pacs.json").resolve(spec)
    assert info.value.fix
    assert "pw@" not in str(info.value)


def test_config_round_trips_and_holds_no_secret(tmp_path: Path, memory_keyring: object) -> None:
    config = pacs.PacsConfig(path=tmp_path / "sub" / "pacs.json", storage_scp=pacs.StorageScp(port=11113))
    config.add(pacs.PacsNode(name="web", kind="dicomweb", base_url="https://127.0.0.1:8443/dicom-web", auth="basic",
                             username="reader", secret="keyring", ca_bundle="/etc/ssl/hospital.pem"))
    config.add(pacs.PacsNode(name="dimse", kind="dimse", ae_title="PACS", host="127.0.0.1", port=4242))
    secrets.store_in_keyring("web", "top-secret-value")
    config.save()
    text = config.path.read_text()
    assert "top-secret-value" not in text
    assert not list(config.path.parent.glob(".pacs.json.*"))  # the atomic write left no temporary file
    loaded = pacs.PacsConfig.load(config.path)
    assert loaded.nodes == config.nodes and loaded.storage_scp.port == 11113
    assert secrets.secret_of(loaded.nodes["web"]) == "top-secret-value"
    loaded.remove("dimse")
    with pytest.raises(pacs.NodeConfigError):
        loaded.remove("dimse")


def test_config_file_lives_beside_the_viewer_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "a" / "settings.json"))
    assert pacs.PacsConfig.load().path == tmp_path / "a" / "pacs.json"
    monkeypatch.delenv("RADLENS_SETTINGS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert pacs.PacsConfig.load().path == tmp_path / "xdg" / "radlens" / "pacs.json"


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    path.write_text(json.dumps({"schema_version": 1, "nodes": {"w": {
        "kind": "dicomweb", "base_url": "https://p/dw", "auth": "basic", "username": "u", "password": "x"}}}))
    with pytest.raises(pacs.NodeConfigError, match="unknown keys"):
        pacs.PacsConfig.load(path)
    path.write_text(json.dumps({"schema_version": 1, "nodes": {"w": {
        "kind": "dicomweb", "base_url": "https://p/dw", "auth": "basic", "username": "u", "secret": "hunter2"}}}))
    with pytest.raises(pacs.NodeConfigError, match="neither 'keyring' nor 'env:NAME'"):
        pacs.PacsConfig.load(path)


def test_secret_from_an_environment_variable_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    node = pacs.PacsNode(name="w", kind="dicomweb", base_url="https://p/dw", auth="bearer", secret="env:MY_PACS_TOKEN")
    monkeypatch.delenv("MY_PACS_TOKEN", raising=False)
    with pytest.raises(pacs.SecretError, match="MY_PACS_TOKEN"):
        secrets.secret_of(node)
    monkeypatch.setenv("MY_PACS_TOKEN", "abc")
    assert secrets.secret_of(node) == "abc"


def test_date_ranges() -> None:
    assert pacs.parse_date_range("20200101-20201231") == ("20200101", "20201231")
    assert pacs.parse_date_range("20200101-") == ("20200101", "")
    assert pacs.parse_date_range("-20201231") == ("", "20201231")
    assert pacs.parse_date_range("2020-01-31") == ("20200131", "20200131")
    assert pacs.StudyQuery(date_from="20200101", date_to="").date_range == "20200101-"
    with pytest.raises(pacs.NodeConfigError):
        pacs.parse_date_range("Jan 2020")
