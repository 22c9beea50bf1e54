"""Each data-set reader on small files written like the real ones."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import DataConfig
from training.datasets import TrainDataError, read_labelled_data
from training.synthetic import CLASSES, write_nih_set, write_siim_set, write_vinbigdata_set


def test_vinbigdata_reader_labels_match(tmp_path):
    labels = write_vinbigdata_set(tmp_path, n=12, size=32, seed=1)
    data = read_labelled_data(DataConfig(format="vinbigdata", root=str(tmp_path), classes=CLASSES))
    assert [e.image_id for e in data.examples] == [f"img{i:03d}" for i in range(12)]
    np.testing.assert_array_equal(data.label_matrix(), labels)
    assert data.examples[0].path.suffix == ".png"


def test_vinbigdata_min_raters_and_phantom_default_classes(tmp_path):
    write_vinbigdata_set(tmp_path, n=6, size=32)
    csv = tmp_path / "train.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, "img000,Aortic enlargement,0,R9,1,1,5,5"]) + "\n")
    data = read_labelled_data(DataConfig(format="vinbigdata", root=str(tmp_path), classes=("Aortic enlargement",)))
    assert data.label_matrix()[0, 0] == 1
    strict = read_labelled_data(DataConfig(format="vinbigdata", root=str(tmp_path), min_raters=2,
                                           classes=("Aortic enlargement",)))
    assert strict.label_matrix()[0, 0] == 0
    assert read_labelled_data(DataConfig(format="phantom", root=str(tmp_path))).classes == CLASSES


def test_siim_rle_gives_binary_pneumothorax(tmp_path):
    labels = write_siim_set(tmp_path, n=8, size=32)
    data = read_labelled_data(DataConfig(format="siim", root=str(tmp_path)))
    assert data.classes == ("Pneumothorax",)
    np.testing.assert_array_equal(data.label_matrix()[:, 0], labels)


def test_nih_bbox_and_labels_csv(tmp_path):
    expected = write_nih_set(tmp_path, n=6, size=32)
    data = read_labelled_data(DataConfig(format="nih", root=str(tmp_path), labels_csv="Data_Entry_2017.csv",
                                         classes=("Cardiomegaly", "Effusion")))
    got = {e.image_id: {c for c, v in zip(data.classes, e.labels, strict=True) if v} for e in data.examples}
    assert got == {k[:-4]: v for k, v in expected.items()}
    assert data.examples[3].patient_hint == "00000001"


def test_nih_without_labels_csv_says_so(tmp_path):
    write_nih_set(tmp_path, n=4, size=32, with_labels_csv=False)
    data = read_labelled_data(DataConfig(format="nih", root=str(tmp_path)))
    assert data.classes == ("Cardiomegaly",) and "negative" in str(data.description["note"])


def test_no_matching_images_is_a_clear_error(tmp_path):
    write_vinbigdata_set(tmp_path, n=4, size=32)
    (tmp_path / "train.csv").write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                                        "zzz,No finding,14,R1,,,,\n")
    with pytest.raises(TrainDataError, match="no annotated image"):
        read_labelled_data(DataConfig(format="vinbigdata", root=str(tmp_path), classes=CLASSES))
