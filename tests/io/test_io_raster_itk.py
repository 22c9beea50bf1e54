"""PNG/JPEG/TIFF (8/16-bit, EXIF orientation) and NIfTI/MHA/NRRD known-answer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from engine.errors import CorruptPixelDataError, NotAnImageError
from engine.io import AUTO_MINMAX, FrameIndexError, load_image


def test_io_png_8bit_gray(tmp_path: Path) -> None:
    arr = np.array([[0, 51, 255], [128, 1, 2]], np.uint8)
    Image.fromarray(arr).save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    np.testing.assert_array_equal(image.raw, arr)
    np.testing.assert_allclose(image.display, arr / 255.0, atol=1e-6)
    assert image.kind == "raster" and not image.is_color and image.spacing_source == "none"
    assert image.window.source == "full range"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_io_16bit_kept_full_depth(tmp_path: Path, suffix: str) -> None:
    arr = np.array([[1000, 1500], [3000, 60000]], np.uint16)
    Image.fromarray(arr).save(tmp_path / f"d{suffix}")
    image = load_image(tmp_path / f"d{suffix}")
    np.testing.assert_array_equal(image.raw, arr)
    np.testing.assert_allclose(image.display, (arr - 1000.0) / 59000.0, atol=1e-6)
    assert image.window.name == AUTO_MINMAX and image.stored_dtype == "uint16"


def test_io_png_and_tiff_rgb(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13
    Image.fromarray(arr).save(tmp_path / "c.png")
    Image.fromarray(arr).save(tmp_path / "c.tif")
    for name in ("c.png", "c.tif"):
        image = load_image(tmp_path / name)
        assert image.is_color and image.shape == (2, 3)
        np.testing.assert_array_equal(image.raw, arr)
        np.testing.assert_allclose(image.display, arr / 255.0, atol=1e-6)


def test_io_rgba_palette_drop_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.raw.shape == (2, 2, 3) and image.raw[0, 0, 0] == 200
    gray = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("P")
    gray.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").raw.shape == (1, 2)


def test_io_jpeg_colour_and_gray(tmp_path: Path) -> None:
    arr = np.zeros((16, 16, 3), np.uint8)
    arr[...] = (200, 100, 50)
    Image.fromarray(arr).save(tmp_path / "c.jpg", quality=95)
    image = load_image(tmp_path / "c.jpg")
    assert image.is_color
    np.testing.assert_allclose(image.raw, arr, atol=3)
    Image.fromarray(np.full((8, 8), 77, np.uint8)).save(tmp_path / "g.jpeg")
    np.testing.assert_allclose(load_image(tmp_path / "g.jpeg").raw, 77, atol=2)


def _with_orientation(arr: np.ndarray, path: Path, orientation: int) -> None:
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif)


def test_io_exif_orientation_applied(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    _with_orientation(arr, tmp_path / "r6.png", 6)  # 6: rotate 90 degrees clockwise to view
    image = load_image(tmp_path / "r6.png")
    np.testing.assert_array_equal(image.raw, np.rot90(arr, k=-1))
    assert any("EXIF orientation 6" in n for n in image.notes)
    _with_orientation(arr, tmp_path / "r3.png", 3)  # 3: rotate 180
    np.testing.assert_array_equal(load_image(tmp_path / "r3.png").raw, np.rot90(arr, 2))
    block = np.zeros((16, 32), np.uint8)
    block[:, 16:] = 255
    _with_orientation(block, tmp_path / "r8.jpg", 8)  # 8: rotate 90 counter-clockwise
    jpg = load_image(tmp_path / "r8.jpg")
    assert jpg.shape == (32, 16)
    np.testing.assert_allclose(jpg.raw, np.rot90(block, 1), atol=12)


def test_io_tiff_pages_are_frames(tmp_path: Path) -> None:
    pages = [Image.fromarray(np.full((2, 2), v, np.uint8)) for v in (10, 20, 30)]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    image = load_image(tmp_path / "m.tif", frame=2)
    assert image.n_frames == 3 and image.raw[0, 0] == 30
    with pytest.raises(FrameIndexError):
        load_image(tmp_path / "m.tif", frame=3)


def test_io_damaged_raster(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[:60])
    with pytest.raises(CorruptPixelDataError):
        load_image(tmp_path / "t.png")
    (tmp_path / "fake.png").write_bytes(b"not a png at all")
    with pytest.raises((NotAnImageError, CorruptPixelDataError)):
        load_image(tmp_path / "fake.png")


@pytest.mark.parametrize("name", ["img.nii.gz", "img.nii", "img.mha", "img.nrrd"])
def test_io_itk_2d(tmp_path: Path, name: str) -> None:
    arr = np.array([[0, 100, 200], [300, 400, 500]], np.int16)
    itk = sitk.GetImageFromArray(arr)
    itk.SetSpacing((0.5, 0.25))  # (x, y)
    sitk.WriteImage(itk, str(tmp_path / name))
    image = load_image(tmp_path / name)
    assert image.kind == "itk"
    np.testing.assert_array_equal(image.raw, arr)
    np.testing.assert_allclose(image.display, arr / 500.0, atol=1e-6)
    assert image.spacing_mm == (0.25, 0.5) and image.spacing_source == "ITK spacing"


def test_io_itk_volume_slices(tmp_path: Path) -> None:
    vol = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / "v.mha"))
    image = load_image(tmp_path / "v.mha", frame=2)
    assert image.n_frames == 4 and image.shape == (5, 6)
    np.testing.assert_array_equal(image.raw, vol[2])
    with pytest.raises(FrameIndexError, match="4 slice"):
        load_image(tmp_path / "v.mha", frame=4)
