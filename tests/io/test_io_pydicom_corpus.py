"""Every file of pydicom's bundled test collection loads or raises a RadLensError."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from engine.errors import NotAnImageError, RadLensError, UnsupportedTransferSyntaxError
from engine.io import StudyImage, load_image

CORPUS = Path(pydicom.__file__).parent / "data" / "test_files"  # walked directly, no network
FILES = sorted(Path(dirpath) / name for dirpath, _, names in os.walk(CORPUS) for name in names)


def _check(image: StudyImage) -> None:
    assert image.raw.dtype == np.float32 and image.display.dtype == np.float32
    assert image.raw.shape == image.display.shape
    assert image.raw.ndim == 2 or image.raw.shape[2] == 3
    assert np.isfinite(image.display).all()
    assert image.display.min() >= 0.0 and image.display.max() <= 1.0
    assert 0 <= image.frame_index < image.n_frames


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_io_corpus_file_loads_or_raises_radlens_error(path: Path) -> None:
    try:
        image = load_image(path)
    except RadLensError as exc:
        assert str(path) in str(exc)  # the message names the file
        return
    _check(image)


def test_io_corpus_has_files_and_known_outcomes() -> None:
    assert len(FILES) > 100
    ct = load_image(CORPUS / "CT_small.dcm")
    assert ct.spacing_source == "PixelSpacing" and ct.metadata.modality == "CT"
    assert ct.modality_lut.startswith("RescaleSlope")
    cr = load_image(CORPUS / "dicomdirtests" / "77654033" / "CR1" / "6154")
    assert cr.inverted and cr.inversion_reason.startswith("MONOCHROME1")
    rle = load_image(CORPUS / "SC_rgb_rle_2frame.dcm", frame=1)
    assert rle.is_color and rle.n_frames == 2
    with pytest.raises(NotAnImageError, match="RT Plan"):
        load_image(CORPUS / "rtplan.dcm")
    with pytest.raises(UnsupportedTransferSyntaxError, match="GPL"):
        load_image(CORPUS / "JPGExtended.dcm")  # 12-bit JPEG: only the GPL plugin decodes it
