"""Every file of pydicom's bundled test collection: its outcome (loads, or which typed error) is pinned.

The table was generated once from the behaviour of 2026-12-05 (pydicom 3.0.2 with the decoders
pyproject.toml declares: pylibjpeg 2.1 + pylibjpeg-openjpeg 2.6, python-gdcm 3.2) and each failure
reviewed. A file that starts failing, one that starts loading, or an error that changes class shows
as a failure here; a new corpus file (newer pydicom) fails ``test_io_corpus_table_covers_every_file``
until it is added.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from engine import errors
from engine.errors import NotAnImageError, RadLensError, UnsupportedTransferSyntaxError
from engine.io import StudyImage, load_image

CORPUS = Path(pydicom.__file__).parent / "data" / "test_files"  # walked directly, no network
FILES = sorted(Path(dirpath) / name for dirpath, _, names in os.walk(CORPUS) for name in names)

EXPECTED: dict[str, str] = {
    # --- loads: uncompressed, RLE, deflated, and the JPEG / JPEG-LS / JPEG 2000 / HTJ2K files the declared
    # decoders (pylibjpeg + pylibjpeg-openjpeg, python-gdcm) handle
    "693_J2KI.dcm": "loads",
    "CT_small.dcm": "loads",
    "ExplVR_BigEnd.dcm": "loads",
    "GDCMJ2K_TextGBR.dcm": "loads",
    "J2K_pixelrep_mismatch.dcm": "loads",
    "JPEG2000.dcm": "loads",
    "JPEGLSNearLossless_08.dcm": "loads",
    "JPEGLSNearLossless_16.dcm": "loads",
    "MR_small.dcm": "loads",
    "MR_small_RLE.dcm": "loads",
    "MR_small_bigendian.dcm": "loads",
    "MR_small_expb.dcm": "loads",
    "MR_small_implicit.dcm": "loads",
    "MR_small_jp2klossless.dcm": "loads",
    "MR_small_jpeg_ls_lossless.dcm": "loads",
    "MR_small_padded.dcm": "loads",
    "SC_jpeg_no_color_transform.dcm": "loads",
    "SC_jpeg_no_color_transform_2.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cr.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cy+np.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm": "loads",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm": "loads",
    "SC_rgb_gdcm_KY.dcm": "loads",
    "SC_rgb_jls_lossy_line.dcm": "loads",
    "SC_rgb_jls_lossy_sample.dcm": "loads",
    "SC_rgb_jpeg.dcm": "loads",
    "SC_rgb_jpeg_app14_dcmd.dcm": "loads",
    "SC_rgb_jpeg_dcmd.dcm": "loads",
    "SC_rgb_jpeg_dcmtk.dcm": "loads",
    "SC_rgb_jpeg_gdcm.dcm": "loads",
    "SC_rgb_jpeg_lossy_gdcm.dcm": "loads",
    "SC_rgb_rle.dcm": "loads",
    "SC_rgb_rle_16bit.dcm": "loads",
    "SC_rgb_rle_16bit_2frame.dcm": "loads",
    "SC_rgb_rle_2frame.dcm": "loads",
    "SC_rgb_rle_32bit.dcm": "loads",
    "SC_rgb_rle_32bit_2frame.dcm": "loads",
    "SC_rgb_small_odd.dcm": "loads",
    "SC_rgb_small_odd_big_endian.dcm": "loads",
    "SC_rgb_small_odd_jpeg.dcm": "loads",
    "SC_ybr_full_422_uncompressed.dcm": "loads",
    "dicomdirtests/77654033/CR1/6154": "loads",
    "dicomdirtests/77654033/CR2/6247": "loads",
    "dicomdirtests/77654033/CR3/6278": "loads",
    "dicomdirtests/77654033/CT2/17106": "loads",
    "dicomdirtests/77654033/CT2/17136": "loads",
    "dicomdirtests/77654033/CT2/17166": "loads",
    "dicomdirtests/77654033/CT2/17196": "loads",
    "dicomdirtests/98892001/CT2N/6293": "loads",
    "dicomdirtests/98892001/CT2N/6924": "loads",
    "dicomdirtests/98892001/CT5N/2062": "loads",
    "dicomdirtests/98892001/CT5N/2392": "loads",
    "dicomdirtests/98892001/CT5N/2693": "loads",
    "dicomdirtests/98892001/CT5N/3023": "loads",
    "dicomdirtests/98892001/CT5N/3353": "loads",
    "dicomdirtests/98892003/MR1/15820": "loads",
    "dicomdirtests/98892003/MR1/4919": "loads",
    "dicomdirtests/98892003/MR1/5641": "loads",
    "dicomdirtests/98892003/MR2/15970": "loads",
    "dicomdirtests/98892003/MR2/4950": "loads",
    "dicomdirtests/98892003/MR2/4981": "loads",
    "dicomdirtests/98892003/MR2/5011": "loads",
    "dicomdirtests/98892003/MR2/6273": "loads",
    "dicomdirtests/98892003/MR2/6605": "loads",
    "dicomdirtests/98892003/MR2/6935": "loads",
    "dicomdirtests/98892003/MR700/4467": "loads",
    "dicomdirtests/98892003/MR700/4528": "loads",
    "dicomdirtests/98892003/MR700/4558": "loads",
    "dicomdirtests/98892003/MR700/4588": "loads",
    "dicomdirtests/98892003/MR700/4618": "loads",
    "dicomdirtests/98892003/MR700/4648": "loads",
    "dicomdirtests/98892003/MR700/4678": "loads",
    "examples_jpeg2k.dcm": "loads",
    "examples_overlay.dcm": "loads",
    "examples_palette.dcm": "loads",
    "examples_rgb_color.dcm": "loads",
    "examples_ybr_color.dcm": "loads",
    "image_dfl.dcm": "loads",
    "liver_1frame.dcm": "loads",
    "liver_expb_1frame.dcm": "loads",
    "rtdose.dcm": "loads",
    "rtdose_1frame.dcm": "loads",
    "rtdose_expb.dcm": "loads",
    "rtdose_expb_1frame.dcm": "loads",
    "rtdose_rle.dcm": "loads",
    "rtdose_rle_1frame.dcm": "loads",
    # --- UnsupportedTransferSyntaxError: 12-bit JPEG Extended; only the GPL-3 pylibjpeg-libjpeg decodes it
    "JPEG-lossy.dcm": "UnsupportedTransferSyntaxError",
    "JPGExtended.dcm": "UnsupportedTransferSyntaxError",
    # --- CorruptPixelDataError: truncated pixel data (MR_truncated), an invalid IS value (badVR), pixel data
    # without an Image Pixel module (meta_missing_tsyntax, nested_priv_SQ), a J2K stream no decoder (nor
    # pydicom itself) can read (JPEG2000-embedded-sequence-delimiter)
    "JPEG2000-embedded-sequence-delimiter.dcm": "CorruptPixelDataError",
    "MR_truncated.dcm": "CorruptPixelDataError",
    "badVR.dcm": "CorruptPixelDataError",
    "meta_missing_tsyntax.dcm": "CorruptPixelDataError",
    "nested_priv_SQ.dcm": "CorruptPixelDataError",
    # --- NotAnImageError: no pixel data (RT plans/structs, SR, ECG waveform, DICOMDIRs, pixel-less
    # TINY_ALPHA CT headers, datasets without image modules) or not DICOM at all (README, JSON, dumps, ICC, gz)
    "ExplVR_BigEndNoMeta.dcm": "NotAnImageError",
    "ExplVR_LitEndNoMeta.dcm": "NotAnImageError",
    "README.txt": "NotAnImageError",
    "UN_sequence.dcm": "NotAnImageError",
    "crayons.icc": "NotAnImageError",
    "dicomdirtests/DICOMDIR": "NotAnImageError",
    "dicomdirtests/DICOMDIR-bigEnd": "NotAnImageError",
    "dicomdirtests/DICOMDIR-empty.dcm": "NotAnImageError",
    "dicomdirtests/DICOMDIR-implicit": "NotAnImageError",
    "dicomdirtests/DICOMDIR-nooffset": "NotAnImageError",
    "dicomdirtests/DICOMDIR-nopatient": "NotAnImageError",
    "dicomdirtests/DICOMDIR-reordered": "NotAnImageError",
    "dicomdirtests/README.txt": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/DICOMDIR": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000000": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000001": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000002": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000003": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000004": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000005": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000006": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000007": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000008": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000009": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000A": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000B": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000C": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000D": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000E": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000F": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000G": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000H": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000I": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000J": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000K": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000L": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000M": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000N": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000O": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000P": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000Q": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000R": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000S": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000T": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000U": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000V": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000W": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000X": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000Y": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00000Z": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000010": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000011": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000012": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000013": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000014": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000015": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000016": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000017": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000018": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000019": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00001A": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00001B": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00001C": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM00001D": "NotAnImageError",
    "dicomdirtests/TINY_ALPHA/README": "NotAnImageError",
    "empty_charset_LEI.dcm": "NotAnImageError",
    "no_meta.dcm": "NotAnImageError",
    "no_meta_group_length.dcm": "NotAnImageError",
    "priv_SQ.dcm": "NotAnImageError",
    "reportsi.dcm": "NotAnImageError",
    "reportsi_with_empty_number_tags.dcm": "NotAnImageError",
    "rtplan.dcm": "NotAnImageError",
    "rtplan.dump": "NotAnImageError",
    "rtplan_truncated.dcm": "NotAnImageError",
    "rtstruct.dcm": "NotAnImageError",
    "rtstruct.dump": "NotAnImageError",
    "test-SR.dcm": "NotAnImageError",
    "test1.json": "NotAnImageError",
    "test_PN.json": "NotAnImageError",
    "waveform_ecg.dcm": "NotAnImageError",
    "zipMR.gz": "NotAnImageError",

}


def _check(image: StudyImage) -> None:
    assert image.raw.dtype == np.float32 and image.display.dtype == np.float32
    assert image.raw.shape == image.display.shape
    assert image.raw.ndim == 2 or image.raw.shape[2] == 3
    assert np.isfinite(image.display).all()
    assert image.display.min() >= 0.0 and image.display.max() <= 1.0
    assert 0 <= image.frame_index < image.n_frames


def test_io_corpus_table_covers_every_file() -> None:
    found = {p.relative_to(CORPUS).as_posix() for p in FILES}
    assert found == set(EXPECTED), (
        f"pydicom {pydicom.__version__}'s corpus differs from the table: new {sorted(found - set(EXPECTED))}, "
        f"gone {sorted(set(EXPECTED) - found)}; review the new files' outcomes and add them to EXPECTED"
    )


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_io_corpus_file_has_its_pinned_outcome(path: Path) -> None:
    expected = EXPECTED.get(path.relative_to(CORPUS).as_posix())
    if expected is None:
        pytest.fail(f"{path.name} is not in EXPECTED: review its outcome and add it to the table")
    if expected == "loads":
        _check(load_image(path))
        return
    error = getattr(errors, expected)
    with pytest.raises(RadLensError) as info:
        load_image(path)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert str(path) in str(info.value)  # the message names the file


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
