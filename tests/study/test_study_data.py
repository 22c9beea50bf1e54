"""The work list: a VinBigData ``train.csv`` folder -> labels and boxes per radiologist; splits; limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.study.config import DataSpec
from training.study.data import list_work
from training.study.errors import StudyError

CSV = """image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
img_b,Cardiomegaly,3,R8,10,20,30,40
img_b,Cardiomegaly,3,R9,12,22,32,42
img_b,Aortic enlargement,0,R9,1,2,3,4
img_a,No finding,14,R1,,,,
img_a,No finding,14,R2,,,,
img_c,Pleural effusion,10,R3,5,5,15,25
"""


@pytest.fixture
def vinbig(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    for name in ("img_a", "img_b", "img_c"):
        Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "images" / f"{name}.png")
    (tmp_path / "train.csv").write_text(CSV)
    return tmp_path


def test_vinbigdata_folder_gives_labels_and_boxes_per_radiologist(vinbig: Path) -> None:
    work = list_work(DataSpec(folder=str(vinbig), format="vinbigdata"), ("Cardiomegaly", "Pleural effusion"))
    assert [it.image for it in work.items] == ["images/img_a.png", "images/img_b.png", "images/img_c.png"]
    a, b, c = work.items
    assert a.labels == {"Cardiomegaly": 0, "Pleural effusion": 0} and a.boxes == {}
    assert b.labels == {"Cardiomegaly": 1, "Pleural effusion": 0}
    # classes the models do not have (Aortic enlargement) are left out
    assert b.boxes == {"Cardiomegaly": {"R8": [[10.0, 20.0, 30.0, 40.0]], "R9": [[12.0, 22.0, 32.0, 42.0]]}}
    assert c.boxes == {"Pleural effusion": {"R3": [[5.0, 5.0, 15.0, 25.0]]}}
    assert work.format == "vinbigdata" and len(work.fingerprint) == 64
    # the fingerprint follows the annotations
    (vinbig / "train.csv").write_text(CSV.replace("R3,5,5", "R3,6,5"))
    assert list_work(DataSpec(folder=str(vinbig)), ("Cardiomegaly",)).fingerprint != work.fingerprint


def test_split_file_and_limit(vinbig: Path) -> None:
    (vinbig / "split.json").write_text(json.dumps({"train": ["img_a"], "val": [], "test": ["img_b", "img_c"]}))
    work = list_work(DataSpec(folder=str(vinbig), split_file="split.json", subset="test", limit=1), ("Cardiomegaly",))
    assert [it.image for it in work.items] == ["images/img_b.png"]
    with pytest.raises(StudyError, match="split 'val'"):
        list_work(DataSpec(folder=str(vinbig), split_file="nope.json", subset="val"), ("Cardiomegaly",))


def test_no_data_folder_says_how_to_get_one() -> None:
    with pytest.raises(StudyError, match="radlens phantom"):
        list_work(DataSpec(), ("Cardiomegaly",))


def test_two_files_with_one_image_id_are_listed_not_silently_collapsed(vinbig: Path) -> None:
    (vinbig / "images" / "siteB").mkdir()
    Image.fromarray(np.full((48, 48), 9, np.uint8)).save(vinbig / "images" / "siteB" / "img_b.png")
    work = list_work(DataSpec(folder=str(vinbig)), ("Cardiomegaly",))
    assert [it.image for it in work.items] == ["images/img_a.png", "images/img_c.png"]  # img_b: which file?
    reasons = dict(work.left_out)
    for name in ("images/img_b.png", "images/siteB/img_b.png"):
        assert reasons[name].startswith("not studied: 2 files share the image id 'img_b'")


def test_split_entries_may_be_ids_file_names_or_paths_and_unmatched_ones_are_listed(vinbig: Path) -> None:
    (vinbig / "split.json").write_text(json.dumps({"test": ["img_a.png", "images/img_b.png", "img_z"]}))
    work = list_work(DataSpec(folder=str(vinbig), split_file="split.json", subset="test"), ("Cardiomegaly",))
    assert [it.image for it in work.items] == ["images/img_a.png", "images/img_b.png"]
    assert dict(work.left_out)["img_z"].startswith("not studied: the split file lists this image")
    (vinbig / "split.json").write_text(json.dumps({"test": ["other_1", "other_2"]}))
    with pytest.raises(StudyError, match="no image of split 'test'"):
        list_work(DataSpec(folder=str(vinbig), split_file="split.json", subset="test"), ("Cardiomegaly",))


def test_a_symlinked_image_keeps_its_place_in_the_data_folder(vinbig: Path, tmp_path_factory: pytest.TempPathFactory
                                                              ) -> None:
    store = tmp_path_factory.mktemp("store")
    (vinbig / "images" / "img_c.png").rename(store / "img_c.png")
    (vinbig / "images" / "img_c.png").symlink_to(store / "img_c.png")
    work = list_work(DataSpec(folder=str(vinbig)), ("Pleural effusion",))
    c = work.items[-1]
    assert c.image == "images/img_c.png" and c.path == str((store / "img_c.png").resolve())


NIH_BOXES = """Image Index,Finding Label,Bbox [x,y,w,h],,,
00000001_000.png,Infiltrate,10,20,30,40
"""
NIH_LABELS = """Image Index,Finding Labels,Follow-up #,Patient ID
00000001_000.png,Infiltration,0,1
00000002_000.png,Nodule|Mass,0,2
00000003_000.png,No Finding,0,3
"""


def test_nih_labels_come_from_data_entry_and_infiltrate_boxes_count_for_infiltration(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    for i in (1, 2, 3):
        Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "images" / f"0000000{i}_000.png")
    (tmp_path / "BBox_List_2017.csv").write_text(NIH_BOXES)
    (tmp_path / "Data_Entry_2017.csv").write_text(NIH_LABELS)
    work = list_work(DataSpec(folder=str(tmp_path)), ("Infiltration", "Nodule", "Mass"))
    got = {it.image: it.labels for it in work.items}
    assert got == {"images/00000001_000.png": {"Infiltration": 1, "Nodule": 0, "Mass": 0},
                   "images/00000002_000.png": {"Infiltration": 0, "Nodule": 1, "Mass": 1},  # no box, still positive
                   "images/00000003_000.png": {"Infiltration": 0, "Nodule": 0, "Mass": 0}}
    assert work.items[0].boxes == {"Infiltration": {"NIH": [[10.0, 20.0, 40.0, 60.0]]}}
    # the label file is part of what a resume checks: an edited Data_Entry changes the annotations' hash
    (tmp_path / "Data_Entry_2017.csv").write_text(NIH_LABELS.replace("Nodule|Mass", "Mass"))
    again = list_work(DataSpec(folder=str(tmp_path)), ("Infiltration", "Nodule", "Mass"))
    assert again.annotations_sha256 != work.annotations_sha256 and again.fingerprint != work.fingerprint
