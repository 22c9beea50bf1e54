"""The PACS dock against the session's Orthanc: test connection, search, series counts, retrieve
(the first image opens before the study is complete; the study is listed), outbox and Retry."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from fake_host import FakeHost
from orthanc_server import OrthancServer, free_port
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from engine import pacs
from plugins.api import FileHost
from plugins.pacs_dock.manifest import MANIFEST
from plugins.pacs_dock.panel import PacsPanel
from plugins.pacs_dock.send import send_files_command

WAIT_MS = 15000


class FilesFakeHost(FakeHost):
    """The fake host plus :class:`plugins.api.FileHost`: records what the plugin opens and lists."""

    def __init__(self) -> None:
        super().__init__(None)
        self.opened: list[tuple[Path, bool]] = []  # (path, was the retrieval finished then?)
        self.folders: list[Path] = []
        self.panel: PacsPanel | None = None

    def open_path(self, path: Path) -> None:
        assert path.is_file()
        self.opened.append((path, self.panel is not None and self.panel.last_result is not None))

    def show_folder(self, folder: Path) -> None:
        self.folders.append(folder)

    def send_files_to_pacs(self, paths: list[Path]) -> bool:
        send_files_command(self, paths, panel=self.panel)
        return True


@pytest.fixture()
def panel(qtbot: QtBot, config: pacs.PacsConfig) -> PacsPanel:
    host = FilesFakeHost()
    assert isinstance(host, FileHost)
    widget = PacsPanel(host, config_path=config.path)
    host.panel = widget
    qtbot.addWidget(widget)
    return widget


def test_manifest_declares_the_dock_and_the_send_command() -> None:
    ids = {c.id for c in MANIFEST.contributions}
    assert {"pacs.dock", "pacs.send_files", "pacs.nodes"} <= ids and MANIFEST.builtin


def test_dock_search_and_retrieve(panel: PacsPanel, qtbot: QtBot, orthanc: OrthancServer) -> None:
    host = panel.host
    assert isinstance(host, FilesFakeHost)
    panel.node.setCurrentText("orthanc-web")
    assert panel.method.currentData() == "wadors"
    panel.test_button.click()
    qtbot.waitUntil(lambda: "Connection OK" in panel.status.text(), timeout=WAIT_MS)

    panel.accession.setText("ACC42")
    panel.date_from.setText("20190101")
    panel.date_to.setText("20191231")
    panel.search_button.click()
    qtbot.waitUntil(lambda: panel.results.topLevelItemCount() == 1, timeout=WAIT_MS)
    study_item = panel.results.topLevelItem(0)
    assert study_item is not None and study_item.text(4) == "12" and "SERIES^THREE" in study_item.text(1)
    study_item.setExpanded(True)
    qtbot.waitUntil(lambda: study_item.childCount() == 3, timeout=WAIT_MS)
    assert [study_item.child(i).text(4) for i in range(3)] == ["4", "4", "4"]  # type: ignore[union-attr]

    panel.results.setCurrentItem(study_item)
    panel.retrieve_button.click()
    qtbot.waitUntil(lambda: bool(host.folders), timeout=WAIT_MS)
    study_uid = str(pydicom.dcmread(orthanc.series_files[0]).StudyInstanceUID)
    assert panel.last_result is not None and len(panel.last_result.files) == 12
    assert host.folders == [pacs.cache_dir() / study_uid]
    assert len(host.opened) == 1 and host.opened[0][1] is False  # opened while the retrieval still ran
    assert len(list((pacs.cache_dir() / study_uid).rglob("*.dcm"))) == 12
    assert "Retrieved 12 images" in panel.status.text() and not host.errors

    # one series by C-MOVE from the DIMSE node
    panel.node.setCurrentText("orthanc")
    assert [panel.method.itemData(i) for i in range(panel.method.count())] == ["cget", "cmove"]
    panel.method.setCurrentIndex(1)
    panel.search_button.click()
    qtbot.waitUntil(lambda: panel.results.topLevelItemCount() == 1 and not panel.runner.is_busy("pacs.find"),
                    timeout=WAIT_MS)
    item = panel.results.topLevelItem(0)
    assert item is not None
    item.setExpanded(True)
    qtbot.waitUntil(lambda: item.childCount() == 3, timeout=WAIT_MS)
    series_item = item.child(1)
    assert series_item is not None
    panel.results.setCurrentItem(series_item)
    host.folders.clear()
    panel.retrieve_button.click()
    qtbot.waitUntil(lambda: bool(host.folders), timeout=WAIT_MS)
    assert panel.last_result is not None and panel.last_result.method == "cmove" and len(panel.last_result.files) == 4
    panel.runner.shutdown()


def test_dock_reports_a_bad_password(panel: PacsPanel, qtbot: QtBot, memory_keyring: object) -> None:
    from orthanc_server import PASSWORD

    from engine.pacs import secrets

    secrets.store_in_keyring("orthanc-web", "Xq9-bad-pw")
    try:
        panel.node.setCurrentText("orthanc-web")
        panel.test_button.click()
        qtbot.waitUntil(lambda: "Connection failed" in panel.status.text(), timeout=WAIT_MS)
        assert "401" in panel.status.text() and "Xq9-bad-pw" not in panel.status.text()
    finally:
        secrets.store_in_keyring("orthanc-web", PASSWORD)
        panel.runner.shutdown()


def test_dock_outbox_lists_and_retries(panel: PacsPanel, qtbot: QtBot, config: pacs.PacsConfig,
                                       orthanc: OrthancServer, tmp_path: Path) -> None:
    host = panel.host
    assert isinstance(host, FilesFakeHost)
    ds = pydicom.dcmread(orthanc.series_files[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    ds.StudyDate, ds.PatientID, ds.AccessionNumber = "20250103", "SENT-2", "ACC43"  # outside the other searches
    ds.PatientName = "SENT^TWO"
    path = tmp_path / "result.dcm"
    ds.save_as(path, enforce_file_format=True)
    # a node that is down: the send lands in the outbox, the dock lists it
    down = pacs.PacsNode(name="down", kind="dimse", ae_title="ORTHANC", host="127.0.0.1", port=free_port(),
                         timeout_s=2)
    config.add(down)
    config.save()
    send_files_command(host, [path], panel=panel, node="down")
    qtbot.waitUntil(lambda: panel.tabs.tabText(1) == "Outbox (1)", timeout=WAIT_MS)
    assert host.errors and "outbox" in host.errors[-1][1]
    row = panel.outbox_list.topLevelItem(0)
    assert row is not None and row.text(0) == "down" and "refused" in row.text(2)
    # the node comes back (here: the same name now points at the running Orthanc), Retry sends it
    config.add(pacs.config.with_changes(down, port=orthanc.dicom_port))
    config.save()
    panel.reload_nodes()
    before = orthanc.instance_count()
    panel.retry_button.click()
    qtbot.waitUntil(lambda: panel.outbox_list.topLevelItemCount() == 0, timeout=WAIT_MS)
    assert "1 sent, 0 still pending" in panel.status.text()
    assert orthanc.instance_count() == before + 1
    panel.runner.shutdown()


def test_the_viewer_hosts_the_dock_and_its_file_services(qtbot: QtBot, config: pacs.PacsConfig, tmp_path: Path) -> None:
    """The real window: the PACS dock is a panel, "Send files to PACS…" a File command, and the host's
    FileHost methods open a retrieved file and list its folder in the study browser."""
    import shutil

    from pacs_helpers import DEMO

    from plugins.api import LoadedPlugin
    from viewer.app import create_window

    study = tmp_path / "cache" / "1.2.3" / "4.5.6"
    study.mkdir(parents=True)
    files = [Path(shutil.copy(p, study / p.name)) for p in sorted(DEMO.glob("*.dcm"))[:2]]
    plugin = LoadedPlugin(entry_point="pacs = plugins.pacs_dock.manifest:MANIFEST", manifest=MANIFEST)
    window = create_window(str(files[0]), plugins=[plugin], load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.show()
    host = window.host
    assert "pacs.dock" in host.docks and "pacs.send_files" in host.commands
    assert host.commands["pacs.send_files"][2].text() == "Send files to PACS…"
    host.docks["pacs.dock"].show()
    qtbot.waitUntil(lambda: window.findChild(PacsPanel, "pacs.dock") is not None, timeout=WAIT_MS)
    context = host.contexts["pacs"]
    assert isinstance(context, FileHost)
    context.open_path(files[1])
    qtbot.waitUntil(lambda: window.state.image_path is not None and Path(window.state.image_path) == files[1],
                    timeout=WAIT_MS)
    context.show_folder(study.parent)
    qtbot.waitUntil(lambda: len(window.browser.image_paths()) == 2, timeout=WAIT_MS)
    assert Path(str(window.state.image_path)) == files[1]  # listing the folder kept the image shown
    assert context.send_files_to_pacs([])  # nothing to send: the command returns at once
    window.shutdown()


def test_nodes_dialog_saves_the_password_to_the_keyring(qtbot: QtBot, config: pacs.PacsConfig,
                                                        orthanc: OrthancServer, memory_keyring: object) -> None:
    from orthanc_server import PASSWORD, USER

    from engine.pacs import secrets
    from plugins.pacs_dock.nodes_dialog import NodesDialog

    dialog = NodesDialog(FilesFakeHost(), config)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 2
    dialog.new_node()
    dialog.name.setText("dialog-web")
    dialog.kind.setCurrentIndex(1)
    assert dialog.base_url.isVisibleTo(dialog) and not dialog.ae_title.isVisibleTo(dialog)
    dialog.base_url.setText(orthanc.dicomweb_url)
    dialog.auth.setCurrentText("basic")
    dialog.username.setText(USER)
    dialog.password.setText(PASSWORD)
    dialog.test_node()  # saves, then tests
    assert "Connection OK" in dialog.message.text(), dialog.message.text()
    assert dialog.password.text() == ""
    saved = config.path.read_text()
    assert "dialog-web" in saved and PASSWORD not in saved
    assert secrets.secret_of(pacs.PacsConfig.load(config.path).nodes["dialog-web"]) == PASSWORD
    dialog.port.setValue(4242)
    dialog.kind.setCurrentIndex(0)
    dialog.name.setText("bad")
    dialog.ae_title.setText("A\\B")
    assert not dialog.save_node() and "not a valid AE title" in dialog.message.text()
    dialog.list.setCurrentItem(dialog.list.findItems("dialog-web", QtCore.Qt.MatchFlag.MatchExactly)[0])
    assert dialog.name.text() == "dialog-web" and dialog.kind.currentData() == "dicomweb"
    dialog.remove_node()
    assert sorted(pacs.PacsConfig.load(config.path).nodes) == ["orthanc", "orthanc-web"]
    with pytest.raises(pacs.SecretError):  # its password left the keyring with it
        secrets.secret_of(pacs.PacsNode(name="dialog-web", kind="dicomweb", base_url="http://x/dw", auth="basic",
                                        username=USER, secret="keyring"))
