"""Nothing written into the installation (issue #18): sidecars of images RadLens must not or cannot
write beside go to the user's data folder, keyed by SOP Instance UID or file SHA-256, and are found
again when the image is opened from anywhere. Sidecars beside writable images keep working."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import engine.annotations.sidecar as sidecar_module
from engine.annotations import AnnotationSet, BoxAnnotation, Source, find_sidecar, read_sidecar, write_sidecar
from engine.resources import demo_images
from viewer.session import Session
from viewer.state import ViewerState


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "user-data"
    monkeypatch.setenv("RADLENS_DATA", str(data))
    monkeypatch.setenv("RADLENS_CACHE", str(tmp_path / "user-cache"))
    return data


def _boxes(name: str = "Pneumothorax") -> AnnotationSet:
    return AnnotationSet((BoxAnnotation(name, 10, 20, 110, 220, annotator="me", source=Source.USER),))


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bundled_demo_goes_to_the_store_keyed_by_uid_and_is_found_from_a_copy(data_dir: Path, tmp_path: Path) -> None:
    demo = demo_images() / "phantom_00001.dcm"
    before = _listing(demo.parent)
    uid = str(pydicom.dcmread(demo, stop_before_pixels=True).SOPInstanceUID)  # the peer library's reading

    written = write_sidecar(demo, _boxes(), image_shape=(512, 512))

    assert written == data_dir / "annotations" / f"uid-{uid}.radlens.json"
    assert _listing(demo.parent) == before  # nothing beside the bundled image
    assert find_sidecar(demo) == written
    assert read_sidecar(demo).annotations.boxes[0].class_name == "Pneumothorax"
    # the same image opened from elsewhere (a copy in a writable folder without a sidecar) finds it
    copy = tmp_path / "elsewhere" / "renamed.dcm"
    copy.parent.mkdir()
    shutil.copy2(demo, copy)
    assert find_sidecar(copy) == written
    assert read_sidecar(copy).annotations.boxes[0].x1 == 110
    # ... and once the user edits the copy, its own sidecar goes beside it and wins from then on
    beside = write_sidecar(copy, _boxes("Nodule/Mass"))
    assert beside == copy.with_name("renamed.dcm.radlens.json")
    assert read_sidecar(copy).annotations.boxes[0].class_name == "Nodule/Mass"
    assert read_sidecar(demo).annotations.boxes[0].class_name == "Pneumothorax"


def test_pacs_cache_images_go_to_the_store(data_dir: Path, tmp_path: Path) -> None:
    cached = tmp_path / "user-cache" / "pacs" / "1.2.3" / "img.dcm"
    cached.parent.mkdir(parents=True)
    shutil.copy2(demo_images() / "phantom_00002.dcm", cached)
    written = write_sidecar(cached, _boxes(), sop_instance_uid="1.2.840.99.7")
    assert written == data_dir / "annotations" / "uid-1.2.840.99.7.radlens.json"
    assert _listing(cached.parent) == ["img.dcm"]


def test_read_only_folder_png_keyed_by_sha256(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cd"
    folder.mkdir()
    png = folder / "scan.png"
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)).save(png)
    folder.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root ignores the mode bits: answer os.access as a normal user would
            real = os.access
            monkeypatch.setattr(sidecar_module.os, "access",
                                lambda p, mode: False if Path(p) == folder else real(p, mode))
        written = write_sidecar(png, _boxes())
        digest = hashlib.sha256(png.read_bytes()).hexdigest()
        assert written == data_dir / "annotations" / f"sha256-{digest}.radlens.json"
        assert _listing(folder) == ["scan.png"]
        assert find_sidecar(png) == written
    finally:
        folder.chmod(0o755)


def test_write_refused_by_the_file_system_falls_back_to_the_store(data_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    png = tmp_path / "share" / "x.png"
    png.parent.mkdir()
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(png)
    real_write = sidecar_module.atomic_write_text

    def refuse_beside(path: Path, text: str) -> None:
        if Path(path).parent == png.parent:
            raise OSError(errno.EROFS, "Read-only file system")
        real_write(path, text)

    monkeypatch.setattr(sidecar_module, "atomic_write_text", refuse_beside)
    written = write_sidecar(png, _boxes())
    assert written.parent == data_dir / "annotations"
    assert _listing(png.parent) == ["x.png"]


def test_writable_user_folder_keeps_the_sidecar_beside(data_dir: Path, demo_copy_folder: Path) -> None:
    image = demo_copy_folder / "phantom_00003.dcm"
    written = write_sidecar(image, _boxes())
    assert written == image.with_name("phantom_00003.dcm.radlens.json")
    assert find_sidecar(image) == written
    assert not (data_dir / "annotations").exists()


def test_viewer_session_autosave_of_the_bundled_demo(data_dir: Path) -> None:
    demo = demo_images() / "phantom_00004.dcm"
    before = _listing(demo.parent)
    state = ViewerState()
    session = Session(state)
    session.open(demo)
    state.edit_user_boxes(_boxes("Pleural effusion"), "draw")
    assert session.saved_to is not None and session.saved_to.parent == data_dir / "annotations"
    assert _listing(demo.parent) == before
    # reopened in a new session: the boxes come back
    state2 = ViewerState()
    Session(state2).open(demo)
    assert [b.class_name for b in state2.user_boxes.boxes] == ["Pleural effusion"]


@pytest.fixture()
def demo_copy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    for dcm in demo_images().glob("*.dcm"):
        shutil.copy2(dcm, folder / dcm.name)
    return folder
