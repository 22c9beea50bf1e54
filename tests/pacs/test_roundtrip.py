"""Results to the PACS and back, against a real Orthanc: export SR, parametric map, secondary capture and
encapsulated PDF of a demo image; each passes ``dciodvfy``; send them (STOW-RS and C-STORE); retrieve
the study (WADO-RS and C-GET); same Study Instance UID, new series; the retrieved SR gives the same
boxes and probabilities; the retrieved study, scanned and opened, shows the SR's boxes on the image.
And File › Export to PACS… in the viewer (the report plugin's command) sending to that Orthanc.

The test has an Orthanc of its own (module-scoped) so that the results it files with the demo study
never change what the other PACS tests see in the session's server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
import pytest
import torch
import torchvision
from fake_host import FakeHost
from orthanc_server import DEMO, OrthancServer, free_port
from pacs_helpers import MemoryKeyring, make_config

from engine import pacs
from engine.annotations import AnnotationSet, BoxAnnotation, Source

DEMO_IMAGE = DEMO / "phantom_00002.dcm"
CLASSES = ("Cardiomegaly", "Pleural effusion", "Pneumothorax")
#: a minimal PDF (one empty page); the real report's bytes are encapsulated in tests/dicom_out
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
SOP_CLASSES = {"sr": "1.2.840.10008.5.1.4.1.1.88.33", "pm": "1.2.840.10008.5.1.4.1.1.30",
               "sc": "1.2.840.10008.5.1.4.1.1.7", "pdf": "1.2.840.10008.5.1.4.1.1.104.1"}
WAIT_MS = 30000


@dataclass
class Explained:
    image: Any
    result: Any
    localisation: dict[str, Any]
    user: AnnotationSet
    gt: AnnotationSet
    model: Any


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, memory_keyring: MemoryKeyring) -> Iterator[OrthancServer]:
    """An Orthanc of this module's own, holding only the demo image's study."""
    folder = tmp_path_factory.mktemp("orthanc-roundtrip")
    srv = OrthancServer(folder / "server", free_port())
    srv.start()
    srv.upload([DEMO_IMAGE])
    yield srv
    srv.kill()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Explained:
    """The demo image explained by a small ResNet-18 (three of the demo's classes), a reader's box."""
    import engine
    from engine.analysis import localise
    from engine.io import load_image
    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=len(CLASSES)).eval()
    bundle = tmp_path_factory.mktemp("bundle") / "small"
    save_bundle(bundle, net, ModelManifest(name="roundtrip-test", version="1.0", architecture="resnet18",
                                           class_names=CLASSES, input_size=(64, 64)))
    image = load_image(DEMO_IMAGE)
    model = engine.load_model(bundle)
    result = engine.explain(model, image, "gradcam")
    user = AnnotationSet((BoxAnnotation("Cardiomegaly", 150.0, 210.5, 331.0, 402.25, annotator="Jane Reader",
                                        source=Source.USER),), image_id="phantom_00002")
    return Explained(image, result, localise(result, "top:0.05", user), user, AnnotationSet(), model)


def _dciodvfy_errors(path: Path) -> list[str]:
    exe = shutil.which("dciodvfy")
    assert exe is not None, "dciodvfy missing: install the Debian package dicom3tools (.ci/run does)"
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60, check=False)
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]


def _kind(path: Path) -> str:
    return path.name.split(".")[-3] if path.name.split(".")[-2].isdigit() else path.name.split(".")[-2]


@dataclass
class Sent:
    config: pacs.PacsConfig
    paths: list[Path]
    by_kind: dict[str, list[Path]]


@pytest.fixture(scope="module")
def sent(server: OrthancServer, explained: Explained, tmp_path_factory: pytest.TempPathFactory) -> Sent:
    """SR, parametric map, captures and encapsulated PDF of the demo image, checked by dciodvfy, then sent:
    SR and PDF by STOW-RS, parametric map and captures by C-STORE."""
    from engine.dicom_out import write_results

    folder = tmp_path_factory.mktemp("sent")
    config = make_config(server, folder)
    paths = write_results(folder / "export", explained.image, explained.result,
                          localisation=explained.localisation, user_boxes=explained.user,
                          annotations=explained.user, pdf=PDF)
    by_kind: dict[str, list[Path]] = {}
    for p in paths:
        by_kind.setdefault(_kind(p), []).append(p)
    assert sorted(by_kind) == ["pdf", "pm", "sc", "sr"] and len(by_kind["sc"]) == len(CLASSES)
    for p in paths:
        assert _dciodvfy_errors(p) == [], p.name
    outbox = pacs.Outbox(folder / "outbox")
    for node, files in (("orthanc-web", [*by_kind["sr"], *by_kind["pdf"]]),
                        ("orthanc", [*by_kind["pm"], *by_kind["sc"]])):
        report = pacs.send_files(node, files, outbox=outbox, config=config)
        assert report.ok and len(report.sent) == len(files), report.error
    assert outbox.pending() == []
    return Sent(config, paths, by_kind)


def test_results_round_trip_through_orthanc(sent: Sent, explained: Explained, tmp_path: Path) -> None:
    from engine.annotations.dicom_sr import read_sr
    from engine.io.study import scan_folder
    from viewer.session import Session
    from viewer.state import ViewerState

    config, paths = sent.config, sent.paths
    src = pydicom.dcmread(DEMO_IMAGE, stop_before_pixels=True)
    study = str(src.StudyInstanceUID)
    exported = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in paths}
    methods: tuple[tuple[str, Literal["wadors", "cget"]], ...] = (("orthanc-web", "wadors"), ("orthanc", "cget"))
    for node, method in methods:
        got = pacs.retrieve(node, study, out=tmp_path / method, method=method, config=config)
        back = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in got.files}
        assert {*exported, str(src.SOPInstanceUID)} <= set(back), method
        for uid, original in exported.items():
            ds, orig = pydicom.dcmread(back[uid]), pydicom.dcmread(original)
            assert ds.StudyInstanceUID == study and ds.SOPClassUID == SOP_CLASSES[_kind(original)]
            assert ds.SeriesInstanceUID not in (src.SeriesInstanceUID, "")
            if "PixelData" in orig:
                assert ds.PixelData == orig.PixelData
        series = {_kind(p): {str(pydicom.dcmread(back[u], stop_before_pixels=True).SeriesInstanceUID)
                             for u, q in exported.items() if _kind(q) == _kind(p)} for p in exported.values()}
        assert all(len(v) == 1 for v in series.values())  # one new series per object kind
        assert len({*(next(iter(v)) for v in series.values()), str(src.SeriesInstanceUID)}) == 1 + 4
        assert pydicom.dcmread(back[next(u for u, p in exported.items() if _kind(p) == "pdf")]
                               ).EncapsulatedDocument.rstrip(b"\0") == PDF.rstrip(b"\0")

    # the retrieved SR: the same boxes, to the pixel, and the same probabilities
    sr_uid = next(u for u, p in exported.items() if _kind(p) == "sr")
    retrieved_sr = tmp_path / "wadors" / study
    sr_file = next(f for f in retrieved_sr.rglob("*.dcm") if f.stem == sr_uid)
    content = read_sr(sr_file)
    boxes = content.annotations[str(src.SOPInstanceUID)].boxes
    result = explained.result
    for cls in result.explained:
        model = [b.as_tuple() for b in boxes if b.class_name == cls and b.source == Source.MODEL]
        np.testing.assert_array_equal(np.array(model).reshape(-1, 4),
                                      explained.localisation[cls].boxes.reshape(-1, 4))
        assert abs(content.probabilities[cls] - result.probability(cls)) < 1e-12
    assert sum(b.source == Source.MODEL for b in boxes) > 0
    assert [(b.as_tuple(), b.annotator) for b in boxes if b.source != Source.MODEL] == [
        ((150.0, 210.5, 331.0, 402.25), "Jane Reader")]

    # the retrieved study folder: scanned, the image and the captures are listed; opened, the SR's boxes
    # are an annotator's boxes on the referenced image (never the user's own)
    index = scan_folder(retrieved_sr)
    images = [img.path for s in index.iter_series() for img in s.images]
    assert len(list(index.iter_studies())) == 1 and len(images) == 1 + len(CLASSES)
    image_file = next(f for f in images if f.stem == str(src.SOPInstanceUID))
    state = ViewerState()
    Session(state).open(image_file)
    gt = state.ground_truth
    assert sorted((b.class_name, b.as_tuple(), b.annotator) for b in gt.boxes) == sorted(
        (b.class_name, b.as_tuple(), b.annotator) for b in boxes)
    assert gt.filter(source=Source.MODEL).annotators == ("RadLens roundtrip-test",)
    assert state.user_boxes.boxes == ()


# --- File › Export to PACS… ------------------------------------------------------------------------------
@pytest.fixture()
def host(qtbot: Any, explained: Explained, server: OrthancServer, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHost]:
    from PySide6.QtWidgets import QMainWindow

    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "settings.json"))
    config = make_config(server, tmp_path)
    config.add(pacs.PacsNode(name="down", kind="dicomweb", base_url=f"http://127.0.0.1:{free_port()}/dicom-web",
                             timeout_s=5))
    config.save()
    window = QMainWindow()
    qtbot.addWidget(window)
    h = FakeHost(window)
    h.state.open_image(explained.image, DEMO_IMAGE, AnnotationSet(), AnnotationSet())
    h.state.edit_user_boxes(explained.user, "draw")
    h.state.update(explanation=explained.result, threshold="top:0.05")
    yield h
    from plugins.report_export import export as plugin

    runner = plugin.runner()
    if runner is not None:
        runner.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("radlens-task-report")]


def _instances_of(server: OrthancServer, study: str) -> dict[str, str]:
    """SOP Instance UID -> SOP Class UID of the study's instances on the server (QIDO-RS)."""
    import requests
    from orthanc_server import PASSWORD, USER

    r = requests.get(f"{server.dicomweb_url}/studies/{study}/instances", auth=(USER, PASSWORD), timeout=10)
    r.raise_for_status()
    return {item["00080018"]["Value"][0]: item["00080016"]["Value"][0] for item in r.json()}


def test_export_to_pacs_sends_the_objects(qtbot: Any, host: FakeHost, server: OrthancServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.api import Command
    from plugins.report_export import export as report_export
    from plugins.report_export import to_pacs
    from plugins.report_export.manifest import MANIFEST

    assert any(isinstance(c, Command) and c.id == "report.export_pacs" and c.title == "Export to PACS…"
               and c.menu == "File" for c in MANIFEST.contributions)
    pdf = tmp_path / "report.pdf"  # a report exported earlier for this image is added as Encapsulated PDF
    pdf.write_bytes(PDF)
    monkeypatch.setitem(report_export.exported_reports, str(DEMO_IMAGE), pdf)
    asked: list[tuple[list[str], bool]] = []

    def choose(h: Any, names: list[str], pdf_default: bool) -> tuple[str, bool]:
        asked.append((names, pdf_default))
        return "orthanc", pdf_default

    monkeypatch.setattr(to_pacs, "ask_target", choose)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    study = str(host.state.image.metadata.study_instance_uid)
    before = _instances_of(server, study)
    to_pacs.export_to_pacs(host)
    qtbot.waitUntil(lambda: any(s.startswith("Exported to PACS") for s in host.statuses) or bool(host.errors),
                    timeout=WAIT_MS)
    assert host.errors == [] and asked == [(["down", "orthanc", "orthanc-web"], True)]
    assert any("% building DICOM objects" in s for s in host.statuses)  # progress
    n = len(CLASSES)
    assert host.statuses[-1] == (f"Exported to PACS orthanc: SR, parametric map, {n} secondary captures, "
                                 f"encapsulated PDF report ({3 + n} objects sent)")
    new = {uid: cls for uid, cls in _instances_of(server, study).items() if uid not in before}
    assert sorted(new.values()) == sorted([SOP_CLASSES["sr"], SOP_CLASSES["pm"], SOP_CLASSES["pdf"]]
                                          + [SOP_CLASSES["sc"]] * n)
    assert pacs.Outbox().pending() == [] and host.settings.get("send_node") == "orthanc"
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary folder is gone

    # a PACS that is down: nothing is lost, the message names what waits in the outbox
    host.statuses.clear()
    to_pacs.export_to_pacs_node(host, "down")
    qtbot.waitUntil(lambda: bool(host.errors), timeout=WAIT_MS)
    title, text = host.errors[-1]
    assert "not everything was sent" in title
    assert f"0 of {2 + n} objects sent to down" in text
    assert f"Waiting in the outbox: SR, parametric map, {n} secondary captures." in text and "Retry" in text
    waiting = pacs.Outbox().pending("down")
    assert len(waiting) == 2 + n and all(pydicom.dcmread(i.path).StudyInstanceUID == study for i in waiting)


def test_export_to_pacs_makes_the_pdf_report_on_request(qtbot: Any, host: FakeHost, server: OrthancServer,
                                                        explained: Explained) -> None:
    """No report was exported for the image: with "Add the PDF report" it is made now (it needs the model)."""
    from plugins.report_export import to_pacs

    to_pacs.export_to_pacs_node(host, "orthanc", include_pdf=True)
    assert host.errors[-1][0] == "Export to PACS" and "needs the model" in host.errors[-1][1]
    host.errors.clear()
    host.state.update(model=explained.model)
    study = str(host.state.image.metadata.study_instance_uid) if host.state.image else ""
    before = _instances_of(server, study)
    to_pacs.export_to_pacs_node(host, "orthanc", include_pdf=True)
    qtbot.waitUntil(lambda: any(s.startswith("Exported to PACS") for s in host.statuses) or bool(host.errors),
                    timeout=WAIT_MS)
    assert host.errors == [] and "encapsulated PDF report" in host.statuses[-1]
    assert any("% making the PDF report" in s for s in host.statuses)
    new = [uid for uid, cls in _instances_of(server, study).items() if uid not in before and cls == SOP_CLASSES["pdf"]]
    assert len(new) == 1
    import requests
    from orthanc_server import PASSWORD, USER

    found = requests.post(f"{server.web_url}/tools/lookup", data=new[0], auth=(USER, PASSWORD), timeout=10).json()
    ids = {new[0]: next(x["ID"] for x in found if x["Type"] == "Instance")}  # Orthanc's own REST API
    pdf = requests.get(f"{server.web_url}/instances/{ids[new[0]]}/pdf", auth=(USER, PASSWORD), timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 10_000


def test_the_node_dialog_returns_the_chosen_node_and_the_pdf_choice(qtbot: Any, host: FakeHost) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QDialog

    from plugins.report_export import to_pacs

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog)
        combo, box = dialog.findChild(QComboBox), dialog.findChild(QCheckBox)
        assert combo is not None and box is not None and box.isChecked()
        combo.setCurrentIndex(1)
        box.setChecked(False)
        dialog.accept()

    QTimer.singleShot(50, answer)
    assert to_pacs.ask_target(host, ["orthanc", "orthanc-web"], pdf_default=True) == ("orthanc-web", False)
    QTimer.singleShot(50, lambda: QApplication.activeModalWidget().reject())  # type: ignore[union-attr]
    assert to_pacs.ask_target(host, ["orthanc"], pdf_default=False) is None


def test_export_to_pacs_without_a_node_or_an_explanation_says_what_to_do(host: FakeHost, tmp_path: Path) -> None:
    from plugins.report_export import to_pacs

    (tmp_path / "pacs.json").unlink()
    to_pacs.export_to_pacs(host)
    assert host.errors[-1] == ("Export to PACS", "No PACS node is configured. Fix: add one in Tools › PACS nodes….")
    host.state.update(explanation=None)
    to_pacs.export_to_pacs(host)
    assert "Fix:" in host.errors[-1][1] and len(host.errors) == 2


# --- the PACS dock: the retrieved study opens with its SR's boxes -----------------------------------------
class DockHost(FakeHost):
    """The fake host plus :class:`plugins.api.FileHost`, opening files as the viewer's session does."""

    def __init__(self) -> None:
        super().__init__(None)
        self.opened: list[Path] = []
        self.folders: list[Path] = []

    def open_path(self, path: Path) -> None:
        from viewer.session import Session

        self.opened.append(path)
        Session(self.state).open(path)

    def show_folder(self, folder: Path) -> None:
        self.folders.append(folder)

    def send_files_to_pacs(self, paths: list[Path]) -> bool:
        return False


def test_dock_retrieve_opens_the_image_with_the_sr_boxes(qtbot: Any, sent: Sent, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.annotations.dicom_sr import read_sr
    from plugins.api import FileHost
    from plugins.pacs_dock.panel import PacsPanel

    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "settings.json"))
    monkeypatch.setenv("RADLENS_CACHE", str(tmp_path / "cache"))
    sent.config.save()
    host = DockHost()
    assert isinstance(host, FileHost)
    panel = PacsPanel(host, config_path=sent.config.path)
    qtbot.addWidget(panel)
    src = pydicom.dcmread(DEMO_IMAGE, stop_before_pixels=True)
    panel.node.setCurrentText("orthanc-web")
    panel.date_from.setText(str(src.StudyDate))
    panel.date_to.setText(str(src.StudyDate))
    panel.search_button.click()
    qtbot.waitUntil(lambda: panel.results.topLevelItemCount() == 1 and not panel.runner.is_busy("pacs.find"),
                    timeout=WAIT_MS)
    study_item = panel.results.topLevelItem(0)
    assert study_item is not None
    panel.results.setCurrentItem(study_item)
    panel.retrieve_button.click()
    qtbot.waitUntil(lambda: bool(host.folders), timeout=WAIT_MS)
    panel.runner.shutdown()
    assert host.errors == [] and panel.last_result is not None
    # only the image was opened (never the SR, the PDF or the parametric map), and it shows the SR's boxes
    assert {p.stem for p in host.opened} == {str(src.SOPInstanceUID)}
    assert host.state.image_path == host.opened[-1]
    # opened again at the end when the SR arrived after the image (then its boxes attach)
    assert len(host.opened) == 1 + panel.sr_after_open, (host.opened, panel.sr_after_open)
    sr_boxes = read_sr(sent.by_kind["sr"][0]).annotations[str(src.SOPInstanceUID)].boxes
    shown = {(b.class_name, b.as_tuple(), b.annotator) for b in host.state.ground_truth.boxes}
    assert {(b.class_name, b.as_tuple(), b.annotator) for b in sr_boxes} <= shown and sr_boxes
    assert host.state.user_boxes.boxes == ()


def test_dock_reopens_the_image_when_its_sr_arrives_later(qtbot: Any, sent: Sent, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow PACS: the image is opened on arrival, the SR lands afterwards; at the end the image is opened
    again so the SR's boxes show (the retrieval's arrivals are fed to the dock by hand, in that order)."""
    from plugins.pacs_dock.panel import PacsPanel

    monkeypatch.setenv("RADLENS_SETTINGS", str(tmp_path / "settings.json"))
    host = DockHost()
    panel = PacsPanel(host, config_path=sent.config.path)
    qtbot.addWidget(panel)
    study = tmp_path / "cache" / "study"
    image, capture, sr = study / "s1" / "image.dcm", study / "s3" / "capture.dcm", study / "s2" / "sr.dcm"
    for target, source in ((capture, sent.by_kind["sc"][0]), (image, DEMO_IMAGE)):
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
        panel.arrived.put((target, target == image, False))
    panel._drain()
    assert host.opened == [image] and host.state.ground_truth.boxes == ()  # the capture is not opened first
    sr.parent.mkdir()
    shutil.copy(sent.by_kind["sr"][0], sr)
    panel.arrived.put((sr, False, True))
    panel._retrieved(pacs.RetrieveResult(study, (capture, image, sr), "wadors", 0.1))
    assert host.opened == [image, image] and host.folders == [study]
    assert len(host.state.ground_truth.filter(source=Source.MODEL).boxes) > 0
    panel.runner.shutdown()


def test_the_viewers_file_menu_offers_export_to_pacs(qtbot: Any) -> None:
    """The real window: the report plugin's "Export to PACS…" sits in the File menu beside "Save as DICOM…"."""
    from plugins.api import LoadedPlugin
    from plugins.report_export.manifest import MANIFEST
    from viewer.app import create_window

    plugin = LoadedPlugin(entry_point="report = plugins.report_export.manifest:MANIFEST", manifest=MANIFEST)
    window = create_window(str(DEMO_IMAGE), plugins=[plugin], load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    from PySide6.QtWidgets import QMenu

    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File")
    assert isinstance(file_menu, QMenu)
    titles = [a.text() for a in file_menu.actions()]
    assert titles.index("Export to PACS…") == titles.index("Save as DICOM…") + 1
    assert window.host.commands["report.export_pacs"][2].text() == "Export to PACS…"
    window.shutdown()
