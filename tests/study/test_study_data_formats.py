"""The classification layouts of the study data layer: a CSV with one 0/1 column per class, and one
folder per class; their validation errors name the file and the fix; a study runs on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.datasets import TrainDataError
from training.study.config import DataSpec
from training.study.data import CLASS_FOLDERS, CLASSIFICATION_CSV, list_work

CLASSES = ("Nodule/Mass", "Pneumothorax")


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)


@pytest.fixture
def csv_folder(tmp_path: Path) -> Path:
    for name in ("a.png", "sub/b.png", "c.png"):
        _png(tmp_path / name)
    (tmp_path / "labels.csv").write_text("path,Nodule_Mass,pneumothorax,Other\n"
                                         "a.png,1,0,1\nsub/b.png,0,1,0\nc.png,1,1,0\n")
    return tmp_path


def test_classification_csv_gives_labels_per_class_and_no_boxes(csv_folder: Path) -> None:
    work = list_work(DataSpec(folder=str(csv_folder)), CLASSES)
    assert work.format == CLASSIFICATION_CSV and work.annotations == csv_folder.resolve() / "labels.csv"
    got = {it.image: it.labels for it in work.items}
    assert got == {"a.png": {"Nodule/Mass": 1, "Pneumothorax": 0}, "c.png": {"Nodule/Mass": 1, "Pneumothorax": 1},
                   "sub/b.png": {"Nodule/Mass": 0, "Pneumothorax": 1}}
    assert all(it.boxes == {} for it in work.items) and len(work.fingerprint) == 64


def test_classification_csv_errors_name_the_file_the_lines_and_the_fix(csv_folder: Path) -> None:
    (csv_folder / "labels.csv").write_text("path,Nodule_Mass,Pneumothorax\na.png,1,2\nmissing.png,0,0\n")
    with pytest.raises(TrainDataError) as info:
        list_work(DataSpec(folder=str(csv_folder)), CLASSES)
    text = str(info.value)
    assert "labels.csv" in text and "line 2: Pneumothorax = '2' is not 0 or 1" in text
    assert "line 3: image missing.png not found" in text and "labels are 0 or 1" in text
    (csv_folder / "labels.csv").write_text("file_name,Nodule_Mass\na.png,1\n")
    with pytest.raises(TrainDataError, match=r"no image column .*no column for class\(es\) Pneumothorax") as info:
        list_work(DataSpec(folder=str(csv_folder), format=CLASSIFICATION_CSV), CLASSES)
    assert "file_name, Nodule_Mass" in str(info.value) and "one 0/1 column per class" in str(info.value)


def test_class_folders_label_each_image_by_its_folder(tmp_path: Path) -> None:
    for name in ("Nodule_Mass/n1.png", "pneumothorax/p1.png", "pneumothorax/p2.png", "normal/z.png"):
        _png(tmp_path / name)
    work = list_work(DataSpec(folder=str(tmp_path)), CLASSES)
    assert work.format == CLASS_FOLDERS
    got = {it.image: (it.labels["Nodule/Mass"], it.labels["Pneumothorax"]) for it in work.items}
    assert got == {"Nodule_Mass/n1.png": (1, 0), "normal/z.png": (0, 0), "pneumothorax/p1.png": (0, 1),
                   "pneumothorax/p2.png": (0, 1)}
    assert list_work(DataSpec(folder=str(tmp_path), limit=2), CLASSES).items == work.items[:2]


def test_an_unknown_class_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    _png(tmp_path / "Pneumothorax" / "p.png")
    _png(tmp_path / "Fracture" / "f.png")
    with pytest.raises(TrainDataError, match=r"folder\(s\) Fracture name no class") as info:
        list_work(DataSpec(folder=str(tmp_path), format=CLASS_FOLDERS), CLASSES)
    assert "'normal'" in str(info.value) and str(tmp_path) in str(info.value)


def test_a_folder_in_no_known_layout_lists_every_format(tmp_path: Path) -> None:
    _png(tmp_path / "x.png")
    with pytest.raises(TrainDataError, match=r"labels\.csv") as info:
        list_work(DataSpec(folder=str(tmp_path)), CLASSES)
    assert "DATA/<class>/<image>" in str(info.value)


def test_an_image_listed_twice_in_a_classification_csv_is_refused(csv_folder: Path) -> None:
    with (csv_folder / "labels.csv").open("a") as f:
        f.write("./a.png,0,1,0\n")
    with pytest.raises(TrainDataError, match=r"listed more than once \(a\.png\)"):
        list_work(DataSpec(folder=str(csv_folder)), CLASSES)


def test_the_gallery_reads_no_box_file_for_the_classification_layouts(csv_folder: Path) -> None:
    from training.study.review import StudyReview

    data = {"folder": str(csv_folder), "format": CLASSIFICATION_CSV, "annotations": str(csv_folder / "labels.csv")}
    assert StudyReview(csv_folder, {"data": data}, []).annotations is None
    vin = {**data, "format": "vinbigdata", "annotations": str(csv_folder / "labels.csv")}
    assert StudyReview(csv_folder, {"data": vin}, []).annotations == csv_folder / "labels.csv"


def test_the_image_column_ignores_case_and_an_exact_class_column_wins(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    # CheXpert-style "Path"; a punctuation-only match (Nodule_Mass) beside the exact class name
    (tmp_path / "labels.csv").write_text("Path,Nodule_Mass,Nodule/Mass,Pneumothorax\na.png,0,1,0\n")
    work = list_work(DataSpec(folder=str(tmp_path)), CLASSES)
    assert [(it.image, it.labels) for it in work.items] == [("a.png", {"Nodule/Mass": 1, "Pneumothorax": 0})]


def test_images_the_classification_layouts_do_not_label_are_listed(
    csv_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _png(csv_folder / "extra" / "d.png")  # in the folder, not in labels.csv
    work = list_work(DataSpec(folder=str(csv_folder)), CLASSES)
    assert dict(work.left_out)["extra/d.png"].startswith("not studied: labels.csv has no row for this image")
    folders = tmp_path_factory.mktemp("folders")
    _png(folders / "Pneumothorax" / "a.png")
    _png(folders / "stray.png")  # at the top, in no class folder
    work = list_work(DataSpec(folder=str(folders)), CLASSES)
    assert [it.image for it in work.items] == ["Pneumothorax/a.png"]
    assert dict(work.left_out)["stray.png"].startswith("not studied: it is in no class folder")


def test_the_classification_layouts_take_a_split_file(
    csv_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json

    from training.study.errors import StudyError

    (csv_folder / "split.json").write_text(json.dumps({"val": ["a"], "test": ["sub/b.png", "c.png", "gone"]}))
    work = list_work(DataSpec(folder=str(csv_folder), split_file="split.json", subset="test"), CLASSES)
    assert [it.image for it in work.items] == ["c.png", "sub/b.png"]
    assert len(work.split_sha256) == 64
    assert dict(work.left_out)["gone"].startswith("not studied: the split file lists this image")
    both = list_work(DataSpec(folder=str(csv_folder), split_file="split.json", subset="val+test"), CLASSES)
    assert [it.image for it in both.items] == ["a.png", "c.png", "sub/b.png"]
    (csv_folder / "split.json").write_text(json.dumps({"test": ["x", "y"]}))
    with pytest.raises(StudyError, match="no image of split 'test'"):
        list_work(DataSpec(folder=str(csv_folder), split_file="split.json", subset="test"), CLASSES)
    folders = tmp_path_factory.mktemp("folders")
    for name in ("Pneumothorax/p1.png", "Pneumothorax/p2.png", "normal/z.png"):
        _png(folders / name)
    (folders / "split.json").write_text(json.dumps({"val": ["p1", "z"], "test": ["p2"]}))
    work = list_work(DataSpec(folder=str(folders), split_file="split.json", subset="val"), CLASSES)
    assert [it.image for it in work.items] == ["Pneumothorax/p1.png", "normal/z.png"] and work.left_out == ()
