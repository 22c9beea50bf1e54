"""Against a real Orthanc: test connection, find, retrieve by WADO-RS, C-GET and C-MOVE, send, and
the failures a user meets (wrong AE title, bad password, nothing listening)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from orthanc_server import PASSWORD, OrthancServer, free_port
from pacs_helpers import DEMO

from engine import pacs
from engine.errors import CancelledError
from viewer.cli import main as radlens


def originals() -> dict[str, Path]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in sorted(DEMO.glob("*.dcm"))}


def demo_study(index: int = 0) -> pydicom.Dataset:
    return pydicom.dcmread(sorted(DEMO.glob("*.dcm"))[index], stop_before_pixels=True)


def assert_same_instances(files: list[Path], sources: list[Path]) -> None:
    """Same UIDs (study, series, SOP) and the same pixel data as the originals."""
    by_uid = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in sources}
    assert len(files) == len(sources)
    for path in files:
        got = pydicom.dcmread(path)
        ref = pydicom.dcmread(by_uid[str(got.SOPInstanceUID)])
        for uid in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
            assert got[uid].value == ref[uid].value
        assert np.array_equal(got.pixel_array, ref.pixel_array)
        assert path.name == f"{got.SOPInstanceUID}.dcm" and path.parent.name == got.SeriesInstanceUID


@pytest.mark.parametrize("node", ["orthanc", "orthanc-web"])
def test_echo(config: pacs.PacsConfig, node: str) -> None:
    assert pacs.echo(node, config).name == node


def test_find_by_patient_id_and_date(config: pacs.PacsConfig) -> None:
    ref = demo_study(1)
    hits = pacs.find_studies("orthanc", pacs.StudyQuery(patient_id=str(ref.PatientID)), config)
    assert [h.study_uid for h in hits] == [ref.StudyInstanceUID]
    assert hits[0].n_instances == 1 and hits[0].modalities == ("DX",)
    # dates of the demo studies: one range holds exactly those inside it, on both protocols
    dates = {str(demo_study(i).StudyInstanceUID): str(demo_study(i).StudyDate) for i in range(6)}
    inside = {uid for uid, d in dates.items() if "20200101" <= d <= "20201231"}
    query = pacs.StudyQuery(date_from="20200101", date_to="20201231", modality="DX")
    for node in ("orthanc", "orthanc-web"):
        assert {h.study_uid for h in pacs.find_studies(node, query, config)} == inside
    by_name = pacs.find_studies("orthanc", pacs.StudyQuery(patient_name="SERIES^THR*"), config)
    assert [h.patient_name for h in by_name] == ["SERIES^THREE"]
    web = pacs.find_studies("orthanc-web", pacs.StudyQuery(date_from=str(ref.StudyDate), date_to=str(ref.StudyDate)),
                            config)
    assert [(h.study_uid, h.patient_id) for h in web] == [(ref.StudyInstanceUID, ref.PatientID)]


def test_series_with_image_counts(config: pacs.PacsConfig, orthanc: OrthancServer) -> None:
    study = str(pydicom.dcmread(orthanc.series_files[0]).StudyInstanceUID)
    for node in ("orthanc", "orthanc-web"):
        hits = pacs.find_studies(node, pacs.StudyQuery(accession="ACC42"), config)
        assert [h.study_uid for h in hits] == [study] and hits[0].n_instances == 12
        series = pacs.find_series(node, study, config)
        assert sorted((s.number, s.n_instances) for s in series) == [(1, 4), (2, 4), (3, 4)]


@pytest.mark.parametrize(("node", "method"), [("orthanc-web", "wadors"), ("orthanc", "cget"), ("orthanc", "cmove")])
def test_retrieve_equals_the_originals(config: pacs.PacsConfig, orthanc: OrthancServer, tmp_path: Path,
                                       node: str, method: pacs.config.Method) -> None:
    sources = orthanc.series_files
    study = str(pydicom.dcmread(sources[0]).StudyInstanceUID)
    arrived: list[tuple[Path, bool]] = []
    reports: list[tuple[int, int | None]] = []
    result = pacs.retrieve(node, study, out=tmp_path / "out", method=method, config=config,
                           on_file=lambda p: arrived.append((p, p.is_file())),
                           progress=lambda done, total, _msg: reports.append((done, total)))
    assert reports[-1] == (12, 12) and len(reports) >= 3  # progress while it ran, then the end
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)
    assert result.method == method and result.folder == tmp_path / "out" / study
    assert [p for p, _ in arrived] == list(result.files) and all(ok for _, ok in arrived)  # each complete on arrival
    assert_same_instances(list(result.files), sources)
    assert not list((tmp_path / "out").rglob("*.tmp"))
    # one series only, and the demo's single-image study
    series = str(pydicom.dcmread(sources[5]).SeriesInstanceUID)
    part = pacs.retrieve(node, study, series, out=tmp_path / "series", method=method, config=config)
    assert_same_instances(list(part.files), sources[4:8])
    ref = sorted(DEMO.glob("*.dcm"))[2]
    one = pacs.retrieve(node, str(demo_study(2).StudyInstanceUID), out=tmp_path / "demo", method=method, config=config)
    assert_same_instances(list(one.files), [ref])


def test_cancelled_retrieval_leaves_nothing(config: pacs.PacsConfig, orthanc: OrthancServer, tmp_path: Path) -> None:
    study = str(pydicom.dcmread(orthanc.series_files[0]).StudyInstanceUID)
    methods: list[tuple[str, pacs.config.Method]] = [("orthanc-web", "wadors"), ("orthanc", "cget")]
    for node, method in methods:
        seen: list[Path] = []

        def stop(seen: list[Path] = seen) -> bool:
            return len(seen) >= 2

        with pytest.raises(CancelledError):
            pacs.retrieve(node, study, out=tmp_path / method, method=method, config=config, on_file=seen.append,
                          cancelled=stop)
        assert seen and not [p for p in (tmp_path / method).rglob("*") if p.is_file()]


def test_wrong_ae_title_is_named(config: pacs.PacsConfig, orthanc: OrthancServer) -> None:
    wrong = pacs.parse_node_spec(f"dimse://WRONG_AE@127.0.0.1:{orthanc.dicom_port}")
    with pytest.raises(pacs.AssociationRejectedError, match="WRONG_AE"):
        pacs.echo(pacs.config.with_changes(wrong, timeout_s=30), config)  # generous: CI machines are loaded
    unknown_caller = pacs.config.with_changes(config.nodes["orthanc"], our_ae_title="STRANGER")
    with pytest.raises(pacs.AssociationRejectedError, match="STRANGER"):  # C-FIND from an AE Orthanc does not know
        pacs.find_studies(unknown_caller, pacs.StudyQuery(), config)
    with pytest.raises(pacs.ConnectionRefusedPacsError, match="refused"):
        pacs.echo(f"dimse://ORTHANC@127.0.0.1:{free_port()}", config)
    with pytest.raises(pacs.ConnectionRefusedPacsError):
        pacs.echo(f"dicomweb+http://127.0.0.1:{free_port()}/dicom-web", config)


def test_bad_password_and_no_secret_in_file_or_log(config: pacs.PacsConfig, orthanc: OrthancServer,
                                                   memory_keyring: object, caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    pacs.find_studies("orthanc-web", pacs.StudyQuery(modality="DX"), config)  # the right password works
    from engine.pacs import secrets

    secrets.store_in_keyring("orthanc-web", "not-the-password")
    try:
        with pytest.raises(pacs.AuthenticationError, match="401"):
            pacs.echo("orthanc-web", config)
    finally:
        secrets.store_in_keyring("orthanc-web", PASSWORD)
    # a URL node: basic auth, the password from the environment, never from the URL
    monkeypatch.setenv("RADLENS_PACS_PASSWORD", "wrong-too")
    with pytest.raises(pacs.AuthenticationError):
        pacs.echo(f"dicomweb+http://radlens@127.0.0.1:{orthanc.http_port}/dicom-web", config)
    assert PASSWORD not in config.path.read_text() and "not-the-password" not in config.path.read_text()
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text and "wrong-too" not in caplog.text
    assert "orthanc-web" in config.path.read_text()


def test_send_by_stow_and_cstore(config: pacs.PacsConfig, orthanc: OrthancServer, tmp_path: Path) -> None:
    src = pydicom.dcmread(sorted(DEMO.glob("*.dcm"))[3])
    # a study of its own, outside every search the other tests make
    src.StudyInstanceUID, src.StudyDate, src.PatientID = pydicom.uid.generate_uid(), "20250102", "SENT-1"
    made = []
    for i, node in enumerate(("orthanc-web", "orthanc")):
        src.SOPInstanceUID = src.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        src.SeriesInstanceUID = pydicom.uid.generate_uid()
        path = tmp_path / f"new{i}.dcm"
        src.save_as(path, enforce_file_format=True)
        made.append(path)
        box = pacs.Outbox(tmp_path / "outbox")
        report = pacs.send_files(node, [path], outbox=box, config=config)
        assert report.ok and report.sent == [str(src.SOPInstanceUID)] and not box.pending()
        assert path.is_file()  # the user's file is never moved
    before = orthanc.instance_count()
    back = pacs.retrieve("orthanc", str(src.StudyInstanceUID), str(src.SeriesInstanceUID), out=tmp_path / "back",
                         config=config)
    assert_same_instances(list(back.files), [made[1]])
    assert orthanc.instance_count() == before


def test_cli_echo_find_get_send(config: pacs.PacsConfig, orthanc: OrthancServer, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["pacs", "--config", str(config.path)]
    assert radlens([*cfg, "echo", "orthanc"]) == 0
    assert "OK" in capsys.readouterr().out
    ref = demo_study(4)
    assert radlens([*cfg, "find", f"dimse://ORTHANC@127.0.0.1:{orthanc.dicom_port}", "--patient-id",
                    str(ref.PatientID), "--date", f"{ref.StudyDate}-{ref.StudyDate}", "--modality", "DX"]) == 0
    out = capsys.readouterr().out
    assert "1 study" in out and str(ref.StudyInstanceUID) in out
    assert radlens([*cfg, "get", "orthanc-web", "--study", str(ref.StudyInstanceUID), "--out",
                    str(tmp_path / "got"), "--quiet"]) == 0
    got = sorted((tmp_path / "got").rglob("*.dcm"))
    assert_same_instances(got, [sorted(DEMO.glob("*.dcm"))[4]])
    capsys.readouterr()
    assert radlens([*cfg, "send", "orthanc", str(got[0]), "--outbox", str(tmp_path / "ob")]) == 0
    assert "1 object(s) sent" in capsys.readouterr().out
    assert radlens([*cfg, "echo", "no-such-node"]) == 1
    assert "no PACS node is named" in capsys.readouterr().err


def test_cli_nodes_keep_the_password_in_the_keyring(config: pacs.PacsConfig, orthanc: OrthancServer,
                                                    memory_keyring: object, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import io

    cfg = ["pacs", "--config", str(config.path)]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert radlens([*cfg, "nodes", "add", "cli-web", f"dicomweb+http://127.0.0.1:{orthanc.http_port}/dicom-web",
                    "--username", "radlens", "--password-stdin"]) == 0
    assert PASSWORD not in config.path.read_text() and '"cli-web"' in config.path.read_text()
    assert radlens([*cfg, "echo", "cli-web"]) == 0
    assert radlens([*cfg, "nodes", "add", "cli-dimse", f"dimse://ORTHANC@127.0.0.1:{orthanc.dicom_port}"]) == 0
    assert radlens([*cfg, "nodes", "list"]) == 0
    out = capsys.readouterr().out
    assert "cli-web: DICOMweb" in out and "cli-dimse: DIMSE ORTHANC@127.0.0.1" in out and PASSWORD not in out
    assert radlens([*cfg, "nodes", "remove", "cli-web"]) == 0
    from engine.pacs import secrets

    with pytest.raises(pacs.SecretError):
        secrets.secret_of(pacs.PacsNode(name="cli-web", kind="dicomweb", base_url="http://x/dw", auth="basic",
                                        username="radlens", secret="keyring"))
    assert radlens([*cfg, "scp", "--port", "11999"]) == 0
    assert pacs.PacsConfig.load(config.path).storage_scp.port == 11999
