"""Known-answer tests of the DICOM display pipeline on synthetic files built with pydicom."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import UID, ImplicitVRLittleEndian

from engine.errors import (
    CorruptPixelDataError,
    NotAnImageError,
    RadLensError,
    UnreadableFileError,
    UnsupportedTransferSyntaxError,
)
from engine.io import AUTO_MINMAX, FrameIndexError, SpacingSource, load_image
from engine.io.synthetic import make_dataset, write_dicom


def test_io_monochrome1_window_inverted_after_voi(tmp_path: Path) -> None:
    pixels = np.array([[0, 100, 200], [300, 400, 4095]], dtype=np.uint16)
    path = tmp_path / "m1.dcm"
    write_dicom(
        path,
        pixels,
        photometric="MONOCHROME1",
        WindowCenter=200,
        WindowWidth=201,
        transfer_syntax=ImplicitVRLittleEndian,
    )
    image = load_image(path)
    # LINEAR: y = ((x - 199.5) / 200 + 0.5) clipped to [0, 1]; MONOCHROME1 shows 1 - y
    voi = np.array([[0.0, 0.0025, 0.5025], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(image.display, 1.0 - voi, atol=1e-6)
    assert image.inverted and image.inversion_reason == "MONOCHROME1"
    assert (image.window.center, image.window.width, image.window.function) == (200, 201, "LINEAR")
    np.testing.assert_array_equal(image.raw, pixels)
    # another window keeps the inversion
    np.testing.assert_allclose(
        image.windowed(1000.5, 2001), 1.0 - np.clip((pixels - 1000.0) / 2000 + 0.5, 0, 1), atol=1e-6
    )


def test_io_sigmoid_window(tmp_path: Path) -> None:
    pixels = np.array([[0, 25], [50, 100]], dtype=np.uint16)
    path = tmp_path / "sig.dcm"
    write_dicom(path, pixels, WindowCenter=50, WindowWidth=100, VOILUTFunction="SIGMOID")
    image = load_image(path)
    expected = [[1 / (1 + math.exp(-4 * (float(x) - 50) / 100)) for x in row] for row in pixels]
    np.testing.assert_allclose(image.display, expected, rtol=1e-6)
    assert image.window.function == "SIGMOID" and not image.inverted


def _voi_lut_item(explanation: str) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", [4, 10, 8])  # 4 entries, first mapped 10, 8 bits
    item.add_new(0x00283006, "US", [0, 85, 170, 255])
    item.LUTExplanation = explanation
    return item


def test_io_voi_lut_sequence_wins_over_window(tmp_path: Path) -> None:
    pixels = np.array([[5, 10, 11], [12, 13, 20]], dtype=np.uint16)
    path = tmp_path / "lut.dcm"
    write_dicom(
        path,
        pixels,
        WindowCenter=[100, 12],
        WindowWidth=[50, 4],
        WindowCenterWidthExplanation=["WIDE", "NARROW"],
        VOILUTSequence=Sequence([_voi_lut_item("MY LUT")]),
    )
    image = load_image(path)
    np.testing.assert_allclose(image.display, [[0, 0, 1 / 3], [2 / 3, 1, 1]], atol=1e-6)
    assert image.window.function == "LUT" and image.window.name == "MY LUT"
    assert [w.name for w in image.windows] == ["MY LUT", "WIDE", "NARROW"]
    assert [w.source for w in image.windows] == ["VOILUTSequence", "WindowCenterWidth", "WindowCenterWidth"]
    narrow = image.with_voi(image.windows[2])
    np.testing.assert_allclose(narrow.display, np.clip((pixels - 11.5) / 3 + 0.5, 0, 1), atol=1e-6)
    # the viewer's drag starts LINEAR from a LUT
    assert image.with_window(12, 4).window.function == "LINEAR"


def test_io_signed_ct_slope_intercept(tmp_path: Path) -> None:
    stored = np.array([[-100, 0], [100, 500]], dtype=np.int16)
    path = tmp_path / "ct.dcm"
    write_dicom(
        path,
        stored,
        Modality="CT",
        RescaleSlope=2,
        RescaleIntercept=-1024,
        WindowCenter=-824,
        WindowWidth=401,
        PixelSpacing=[0.7, 0.6],
    )
    image = load_image(path)
    np.testing.assert_array_equal(image.raw, [[-1224, -1024], [-824, -24]])
    assert image.raw.dtype == np.float32 and image.stored_dtype == "int16"
    np.testing.assert_allclose(image.display, np.clip((image.raw + 824.5) / 400 + 0.5, 0, 1), atol=1e-6)
    assert image.modality_lut == "RescaleSlope 2, RescaleIntercept -1024"
    assert image.spacing_mm == (0.7, 0.6) and image.spacing_source == "PixelSpacing"
    assert image.metadata.modality == "CT"


def test_io_modality_lut_sequence(tmp_path: Path) -> None:
    item = Dataset()
    item.add_new(0x00283002, "US", [3, 0, 16])
    item.add_new(0x00283006, "US", [100, 200, 300])
    item.ModalityLUTType = "HU"
    path = tmp_path / "mlut.dcm"
    write_dicom(path, np.array([[0, 1], [2, 5]], dtype=np.uint16), ModalityLUTSequence=Sequence([item]))
    image = load_image(path)
    np.testing.assert_array_equal(image.raw, [[100, 200], [300, 300]])
    assert image.modality_lut.startswith("Modality LUT Sequence")


def test_io_three_frames(tmp_path: Path) -> None:
    pixels = (np.arange(3)[:, None, None] * 100 + np.arange(20).reshape(4, 5)).astype(np.uint16)
    path = tmp_path / "mf.dcm"
    write_dicom(path, pixels)
    image = load_image(path, frame=2)
    np.testing.assert_array_equal(image.raw, pixels[2])
    assert (image.n_frames, image.frame_index, image.shape) == (3, 2, (4, 5))
    assert image.window.name == AUTO_MINMAX and image.window.source == AUTO_MINMAX
    assert image.display.min() == 0.0 and image.display.max() == 1.0
    with pytest.raises(FrameIndexError, match="3 frame"):
        load_image(path, frame=3)
    with pytest.raises(FrameIndexError):
        load_image(path, frame=-1)


def test_io_rgb(tmp_path: Path) -> None:
    pixels = np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 14
    path = tmp_path / "rgb.dcm"
    write_dicom(path, pixels, photometric="RGB")
    image = load_image(path)
    assert image.is_color and image.shape == (2, 3) and image.raw.shape == (2, 3, 3)
    np.testing.assert_array_equal(image.raw, pixels)
    np.testing.assert_allclose(image.display, pixels / 255.0, atol=1e-6)


def test_io_ybr_full_converted_to_rgb(tmp_path: Path) -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [128, 128, 128]]], np.uint8)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    path = tmp_path / "ybr.dcm"
    write_dicom(path, ybr, photometric="YBR_FULL")
    image = load_image(path)
    assert image.photometric == "YBR_FULL" and "RGB" in image.color_conversion
    np.testing.assert_allclose(image.raw, rgb, atol=2)


def test_io_bits_stored_12(tmp_path: Path) -> None:
    # high bits beyond Bits Stored (e.g. overlay bits) must be masked off
    stored = np.array([[0xF000 | 100, 4095], [0x1000, 7]], dtype=np.uint16)
    path = tmp_path / "b12.dcm"
    write_dicom(path, stored, bits_stored=12)
    np.testing.assert_array_equal(load_image(path).raw, [[100, 4095], [0, 7]])
    ds = make_dataset(np.array([[0x0FFF, 0x0800], [0x07FF, 5]], dtype=np.uint16), bits_stored=12)
    ds.PixelRepresentation = 1  # signed 12-bit in 16: sign-extended
    ds.save_as(tmp_path / "s12.dcm", enforce_file_format=True)
    np.testing.assert_array_equal(load_image(tmp_path / "s12.dcm").raw, [[-1, -2048], [2047, 5]])


def test_io_imager_spacing_with_magnification(tmp_path: Path) -> None:
    px = np.zeros((2, 2), np.uint16)
    write_dicom(tmp_path / "a.dcm", px, ImagerPixelSpacing=[0.2, 0.1], EstimatedRadiographicMagnificationFactor=1.25)
    image = load_image(tmp_path / "a.dcm")
    assert image.spacing_mm == pytest.approx((0.16, 0.08))
    assert image.spacing_source == SpacingSource.IMAGER_CORRECTED
    assert image.spacing_source == ("ImagerPixelSpacing corrected by EstimatedRadiographicMagnificationFactor")
    write_dicom(tmp_path / "b.dcm", px, ImagerPixelSpacing=[0.2, 0.1])
    b = load_image(tmp_path / "b.dcm")
    assert (b.spacing_mm, b.spacing_source) == ((0.2, 0.1), "ImagerPixelSpacing")
    write_dicom(tmp_path / "c.dcm", px, ImagerPixelSpacing=[0.2, 0.1], PixelSpacing=[0.3, 0.3])
    assert load_image(tmp_path / "c.dcm").spacing_source == "PixelSpacing"
    write_dicom(tmp_path / "d.dcm", px)
    d = load_image(tmp_path / "d.dcm")
    assert (d.spacing_mm, d.spacing_source) == (None, "none")


def test_io_presentation_lut_shape_inverse(tmp_path: Path) -> None:
    write_dicom(
        tmp_path / "inv.dcm",
        np.array([[0, 10]], np.uint16),
        WindowCenter=5,
        WindowWidth=10,
        VOILUTFunction="LINEAR_EXACT",
        PresentationLUTShape="INVERSE",
    )
    image = load_image(tmp_path / "inv.dcm")
    assert image.inverted and "INVERSE" in image.inversion_reason
    np.testing.assert_allclose(image.display, [[1.0, 0.0]])


def test_io_metadata_and_frozen(tmp_path: Path) -> None:
    write_dicom(
        tmp_path / "m.dcm",
        np.zeros((2, 2), np.uint16),
        PatientName="Doe^Jane",
        PatientID="P1",
        PatientBirthDate="19700101",
        PatientSex="F",
        StudyDate="20240101",
        SeriesNumber=3,
        InstanceNumber=7,
        BodyPartExamined="CHEST",
        ViewPosition="PA",
        ImageLaterality="L",
        Manufacturer="ACME",
        StudyDescription="CHEST PA",
    )
    image = load_image(tmp_path / "m.dcm")
    m = image.metadata
    assert (m.patient_name, m.patient_id, m.sex, m.series_number, m.instance_number) == ("Doe^Jane", "P1", "F", 3, 7)
    assert (m.body_part, m.view_position, m.laterality, m.manufacturer) == ("CHEST", "PA", "L", "ACME")
    assert image.kind == "dicom" and image.decoder == "pydicom native"
    assert "Explicit VR Little Endian" in image.transfer_syntax
    with pytest.raises(ValueError):
        image.raw[0, 0] = 1
    with pytest.raises(AttributeError):
        image.frame_index = 2  # type: ignore[misc]


def test_io_invalid_window_skipped_with_note(tmp_path: Path) -> None:
    write_dicom(tmp_path / "w.dcm", np.array([[0, 10]], np.uint16), WindowCenter=5, WindowWidth=0)
    image = load_image(tmp_path / "w.dcm")
    assert image.window.name == AUTO_MINMAX
    assert any("window 1 skipped" in n for n in image.notes)


def test_io_no_preamble_read_with_force(tmp_path: Path) -> None:
    ds = make_dataset(np.array([[1, 2]], np.uint16))
    ds.preamble = None
    ds.file_meta = FileMetaDataset()
    ds.save_as(tmp_path / "raw.dcm", enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert open(tmp_path / "raw.dcm", "rb").read(4) == b"\x08\x00\x16\x00"
    np.testing.assert_array_equal(load_image(tmp_path / "raw.dcm").raw, [[1, 2]])


def test_io_files_that_are_not_images(tmp_path: Path) -> None:
    (tmp_path / "junk.bin").write_bytes(b"hello, this is not an image at all" * 10)
    with pytest.raises(NotAnImageError):
        load_image(tmp_path / "junk.bin")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(UnreadableFileError, match="empty"):
        load_image(tmp_path / "empty.dcm")
    with pytest.raises(UnreadableFileError, match="does not exist"):
        load_image(tmp_path / "missing.dcm")
    with pytest.raises(UnreadableFileError, match="folder"):
        load_image(tmp_path)
    ds = make_dataset(np.zeros((2, 2), np.uint16))
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    with pytest.raises(NotAnImageError, match="no pixel data"):
        load_image(tmp_path / "nopix.dcm")


def test_io_truncated_pixel_data(tmp_path: Path) -> None:
    path = tmp_path / "t.dcm"
    write_dicom(path, np.zeros((64, 64), np.uint16))
    path.write_bytes(path.read_bytes()[:-4000])
    with pytest.raises(CorruptPixelDataError):
        load_image(path)


def test_io_unknown_transfer_syntax(tmp_path: Path) -> None:
    from pydicom.encaps import encapsulate

    ds = make_dataset(np.zeros((2, 2), np.uint8))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.90")
    ds.PixelData = encapsulate([b"\xff\x0a\x00\x00"])
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True, implicit_vr=False, little_endian=True)
    # swap in a transfer syntax pydicom has no decoder for (same length, 22 characters)
    private = b"1.2.826.0.1.3680043.99"
    data = (tmp_path / "x.dcm").read_bytes().replace(b"1.2.840.10008.1.2.4.90", private, 1)
    (tmp_path / "x.dcm").write_bytes(data)
    with pytest.raises(UnsupportedTransferSyntaxError, match=r"1\.2\.826\.0\.1\.3680043\.99"):
        load_image(tmp_path / "x.dcm")


def test_io_missing_plugin_names_permissive_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    class _NoDecoder:
        is_available = False
        missing_dependencies = ("pylibjpeg - requires pylibjpeg-openjpeg",)

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: _NoDecoder())
    write_dicom(tmp_path / "j2k.dcm", np.zeros((2, 2), np.uint8))
    import pydicom as _pd
    from pydicom.encaps import encapsulate

    ds = _pd.dcmread(tmp_path / "j2k.dcm")
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.90")
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51"])
    ds.save_as(tmp_path / "j2k.dcm", enforce_file_format=True, implicit_vr=False, little_endian=True)
    with pytest.raises(UnsupportedTransferSyntaxError) as info:
        load_image(tmp_path / "j2k.dcm")
    message = str(info.value)
    assert "JPEG 2000" in message and "pylibjpeg-openjpeg" in message
    assert "install pylibjpeg-libjpeg" not in message
    assert isinstance(info.value, RadLensError)


def test_io_enhanced_functional_groups(tmp_path: Path) -> None:
    pixels = np.stack([np.full((2, 2), 10, np.uint16), np.full((2, 2), 20, np.uint16)])
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.5]
    shared.PixelMeasuresSequence = Sequence([measures])
    frames = []
    for slope in (1, 3):
        item = Dataset()
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = slope, -5
        item.PixelValueTransformationSequence = Sequence([transform])
        frames.append(item)
    write_dicom(
        tmp_path / "enh.dcm",
        pixels,
        SharedFunctionalGroupsSequence=Sequence([shared]),
        PerFrameFunctionalGroupsSequence=Sequence(frames),
    )
    image = load_image(tmp_path / "enh.dcm", frame=1)
    np.testing.assert_array_equal(image.raw, np.full((2, 2), 55))
    assert image.spacing_mm == (0.5, 0.5) and image.spacing_source == "PixelSpacing"


@pytest.mark.parametrize(
    ("attrs", "unit"),
    [
        ({"Modality": "CT", "RescaleSlope": 1, "RescaleIntercept": -1024}, "HU"),
        ({"Modality": "DX", "RescaleSlope": 0.01, "RescaleIntercept": 0, "RescaleType": "OD"}, "OD"),
        ({"Modality": "DX", "RescaleSlope": 2, "RescaleIntercept": 0, "RescaleType": "US"}, ""),
        ({"Modality": "PT", "RescaleSlope": 0.5, "RescaleIntercept": 0, "RescaleType": "US", "Units": "BQML"}, "BQML"),
        ({"Modality": "MR", "RescaleType": "OD"}, ""),  # no Modality LUT applied: stored values, no unit
    ],
)
def test_io_units_of_the_modality_values_are_read_at_load(tmp_path: Path, attrs: dict, unit: str) -> None:
    path = tmp_path / "u.dcm"
    write_dicom(path, np.array([[0, 100], [200, 300]], np.uint16), **attrs)
    image = load_image(path)
    assert image.units == unit
    assert image.metadata.rescale_type == attrs.get("RescaleType", "")
    assert image.metadata.dicom_units == attrs.get("Units", "")


def test_io_units_from_the_frame_functional_group(tmp_path: Path) -> None:
    """Enhanced objects keep RescaleType beside the slope in the Pixel Value Transformation macro."""
    frames = []
    for rescale_type in ("OD", "MGML"):
        item, transform = Dataset(), Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, 0, rescale_type
        item.PixelValueTransformationSequence = Sequence([transform])
        frames.append(item)
    write_dicom(tmp_path / "enh.dcm", np.zeros((2, 2, 2), np.uint16), PerFrameFunctionalGroupsSequence=Sequence(frames))
    assert load_image(tmp_path / "enh.dcm", frame=1).units == "MGML"
    assert load_image(tmp_path / "enh.dcm", frame=0).units == "OD"
