"""The bulk PNG encoder (engine.render.png_bytes_fast): decoded by Pillow, every pixel is the input."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from engine.render import png_bytes_fast, save_png


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (1, 9, 3), (7, 1, 3), (40, 33, 3), (6, 3, 4), (64, 64)])
def test_pillow_decodes_every_pixel(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    image[: shape[0] // 2] = 255  # runs and wrap-around differences (255 - 0) both occur
    decoded = Image.open(io.BytesIO(png_bytes_fast(image, {"Software": "RadLens", "Note": "Ä ok"})))
    decoded.load()
    assert isinstance(decoded, PngImageFile)
    assert decoded.mode == ("L" if image.ndim == 2 else {3: "RGB", 4: "RGBA"}[image.shape[2]])
    assert np.array_equal(np.asarray(decoded), image)
    assert decoded.text == {"Software": "RadLens", "Note": "Ä ok"}


def test_chunks_and_filters_follow_the_png_specification() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = png_bytes_fast(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big") == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + n
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert chunks[0][1] == bytes([0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0])  # 3 x 2, 8 bits, RGB
    raw = zlib.decompress(chunks[1][1])  # each row: filter byte 2 (Up), then row - row above
    assert raw == bytes([2, *range(9), 2, *[9] * 9])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="8-bit"):
        png_bytes_fast(np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match="H, W"):
        png_bytes_fast(np.zeros((2, 2, 2), np.uint8))


def test_save_png_level_one_writes_the_fast_encoding(tmp_path) -> None:
    image = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    fast = save_png(image, tmp_path / "fast.png", {"Software": "RadLens"}, compress_level=1)
    slow = save_png(image, tmp_path / "slow.png", {"Software": "RadLens"}, compress_level=6)
    assert fast.read_bytes() == png_bytes_fast(image, {"Software": "RadLens"})
    assert np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(slow)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.png", "slow.png"]  # no temp files left


def test_images_filtered_in_several_blocks_decode_exactly() -> None:
    """Rows are filtered in blocks of about 4 MB: a block's first row refers to the previous block's last."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 4, (61, 40000, 3), dtype=np.uint8) * 60  # rows of 120,001 bytes: 34 rows a block
    decoded = Image.open(io.BytesIO(png_bytes_fast(image)))
    assert np.array_equal(np.asarray(decoded), image)
