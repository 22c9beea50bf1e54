"""Destructive cases on an Orthanc of their own: the server dies mid-retrieve; a send while it is down."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from orthanc_server import OrthancServer
from pacs_helpers import make_config
from pydicom.uid import UID

from engine import pacs


@pytest.mark.parametrize(("node", "method"), [("orthanc-web", "wadors"), ("orthanc", "cget")])
def test_orthanc_killed_mid_retrieve(fresh_orthanc: OrthancServer, tmp_path: Path, node: str,
                                     method: pacs.config.Method) -> None:
    config = make_config(fresh_orthanc, tmp_path)
    study = str(pydicom.dcmread(fresh_orthanc.series_files[0]).StudyInstanceUID)
    out = tmp_path / "out"
    keep = out / study / "1.2.3" / "1.2.3.4.dcm"  # a file already there from an earlier retrieval stays
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"earlier")
    arrived: list[Path] = []

    def on_file(path: Path) -> None:
        arrived.append(path)
        if len(arrived) == 1:
            fresh_orthanc.kill()

    with pytest.raises(pacs.RetrieveError) as info:
        pacs.retrieve(node, study, out=out, method=method, config=config, on_file=on_file)
    message = str(info.value)
    assert "stopped" in message and "removed" in message and study in message
    assert arrived and not arrived[0].exists()
    left = sorted(p for p in out.rglob("*") if p.is_file())
    assert left == [keep] and keep.read_bytes() == b"earlier"


def test_send_while_down_goes_out_when_back(fresh_orthanc: OrthancServer, tmp_path: Path) -> None:
    config = make_config(fresh_orthanc, tmp_path)
    box = pacs.Outbox(tmp_path / "outbox")
    files = []
    for i, src in enumerate(fresh_orthanc.series_files[:3]):
        ds = pydicom.dcmread(src)
        ds.SeriesInstanceUID = UID("1.2.826.0.1.3680043.8.498.777")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(f"1.2.826.0.1.3680043.8.498.777.{i + 1}")
        files.append(tmp_path / f"result{i}.dcm")
        ds.save_as(files[-1], enforce_file_format=True)
    before = fresh_orthanc.instance_count()
    fresh_orthanc.kill()
    for node in ("orthanc-web", "orthanc"):
        report = pacs.send_files(node, files[:2] if node == "orthanc-web" else files[2:], outbox=box, config=config)
        assert not report.ok and report.sent == [] and "refused" in report.error
    pending = box.pending()
    assert sorted(i.sop_uid for i in pending) == [f"1.2.826.0.1.3680043.8.498.777.{i}" for i in (1, 2, 3)]
    assert all(i.last_error for i in pending) and sorted(box.nodes()) == ["orthanc", "orthanc-web"]
    with pytest.raises(pacs.SendError, match="outbox"):
        pacs.raise_if_pending(pacs.retry_outbox(box, config)[0], box)
    fresh_orthanc.start()
    reports = pacs.retry_outbox(box, config)
    assert all(r.ok for r in reports) and sum(len(r.sent) for r in reports) == 3
    assert not box.pending() and fresh_orthanc.instance_count() == before + 3
    assert all(f.is_file() for f in files)
