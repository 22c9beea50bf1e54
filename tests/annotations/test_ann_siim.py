"""SIIM-ACR train-rle.csv: relative column-major RLE, masks and boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.annotations import (
    NO_FINDING,
    decode_siim_rle,
    encode_siim_rle,
    read_annotations,
    read_siim,
    read_siim_masks,
)
from engine.errors import AnnotationParseError, ShapeError

# 5x5 image. Column-major pixel numbering; offsets relative to the end of the previous run:
# run 1 starts at pixel 3, 4 long (pixels 3..6); run 2 starts 7 after it (pixel 14), 2 long.
TINY_RLE = "3 4 7 2"
TINY_MASK = np.array(
    [
        [0, 1, 0, 1, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0],
    ],
    dtype=bool,
)

# Like the real file: header with a space before EncodedPixels, " -1" for no finding, several
# rows (instances) for one image.
TRAIN_RLE_CSV = """\
ImageId, EncodedPixels
1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090, -1
1.2.276.0.7230010.3.1.4.8323329.12515.1517875239.501137, 3 4 7 2
1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709,-1
1.2.276.0.7230010.3.1.4.8323329.12515.1517875239.501137, 22 2
"""
POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.12515.1517875239.501137"
NEGATIVE = "1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090"


@pytest.fixture
def rle_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train-rle.csv"
    path.write_text(TRAIN_RLE_CSV, encoding="utf-8")
    return path


def test_decode_tiny_hand_made_rle() -> None:
    np.testing.assert_array_equal(decode_siim_rle(TINY_RLE, 5, 5), TINY_MASK)
    assert encode_siim_rle(TINY_MASK) == TINY_RLE


def test_empty_masks() -> None:
    assert not decode_siim_rle("-1", 5, 5).any()
    assert not decode_siim_rle(" -1", 5, 5).any()
    assert encode_siim_rle(np.zeros((4, 3), dtype=np.uint8)) == "-1"


def test_non_square_shape_is_height_by_width() -> None:
    mask = decode_siim_rle("0 3", height=3, width=2)  # the whole first column
    np.testing.assert_array_equal(mask, [[1, 0], [1, 0], [1, 0]])


@pytest.mark.parametrize("rle", ["3 4 7", "3 x", "3 -4", "20 10"])
def test_decode_rejects_malformed(rle: str) -> None:
    with pytest.raises(AnnotationParseError):
        decode_siim_rle(rle, 5, 5)


def test_encode_rejects_non_2d() -> None:
    with pytest.raises(ShapeError):
        encode_siim_rle(np.zeros((2, 2, 2)))


@settings(max_examples=150, deadline=None)
@given(
    arrays(
        dtype=np.bool_,
        shape=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    )
)
def test_round_trip_random_masks(mask: np.ndarray) -> None:
    rle = encode_siim_rle(mask)
    np.testing.assert_array_equal(decode_siim_rle(rle, *mask.shape), mask)
    if mask.any():
        values = [int(v) for v in rle.split()]
        assert len(values) % 2 == 0 and min(values[1::2]) > 0


def test_read_masks_unions_rows(rle_csv: Path) -> None:
    masks = read_siim_masks(rle_csv, 5, 5)
    assert set(masks) == {
        POSITIVE,
        NEGATIVE,
        "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709",
    }
    expected = TINY_MASK.copy()
    expected[2, 4] = expected[3, 4] = True  # "22 2": pixels 22, 23 -> column 4, rows 2 and 3
    np.testing.assert_array_equal(masks[POSITIVE], expected)
    assert not masks[NEGATIVE].any()
    assert list(read_siim_masks(rle_csv, 5, 5, image_ids=[NEGATIVE, "other"])) == [NEGATIVE]


def test_read_boxes_per_connected_component(rle_csv: Path) -> None:
    sets = read_siim(rle_csv, 5, 5)
    assert sets[NEGATIVE].boxes == ()
    assert [lab.class_name for lab in sets[NEGATIVE].labels] == [NO_FINDING]
    positive = sets[POSITIVE]
    assert positive.labels == ()
    assert {b.class_name for b in positive.boxes} == {"Pneumothorax"}
    assert sorted(b.as_tuple() for b in positive.boxes) == sorted(
        [
            (0.0, 3.0, 1.0, 5.0),  # column 0, rows 3-4
            (1.0, 0.0, 2.0, 2.0),  # column 1, rows 0-1
            (2.0, 4.0, 3.0, 5.0),  # single pixel (4, 2)
            (3.0, 0.0, 4.0, 1.0),  # single pixel (0, 3)
            (4.0, 2.0, 5.0, 4.0),  # second row of the file: column 4, rows 2-3
        ]
    )


def test_auto_detected_at_default_size(tmp_path: Path) -> None:
    path = tmp_path / "train-rle.csv"
    path.write_text("ImageId, EncodedPixels\nuid1, 1048570 6\n", encoding="utf-8")
    (box,) = read_annotations(path)["uid1"].boxes
    assert box.as_tuple() == (1023.0, 1018.0, 1024.0, 1024.0)


def test_bad_rle_names_line(rle_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "train-rle.csv"
    path.write_text(TRAIN_RLE_CSV + "uid9, 3 4 x 2\n", encoding="utf-8")
    with pytest.raises(AnnotationParseError) as info:
        read_siim(path, 5, 5)
    assert "line 6" in str(info.value) and "'EncodedPixels'" in str(info.value)
    path.write_text(TRAIN_RLE_CSV + "uid9, 3 40\n", encoding="utf-8")
    with pytest.raises(AnnotationParseError, match="line 6"):
        read_siim(path, 5, 5)
