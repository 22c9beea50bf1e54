"""PNG, JPEG, TIFF, BMP, GIF, WebP files via Pillow.

Conventions: the EXIF orientation is applied (:func:`PIL.ImageOps.exif_transpose`); 16-bit
grayscale PNG/TIFF keeps its full depth. ``raw`` is the pixel values; ``display`` is ``raw / 255``
for 8-bit images and ``raw`` scaled by the data min/max for deeper or float images (the window is
then ``"auto: min/max"``). Alpha is dropped; palette, CMYK and YCbCr images become RGB (a palette
image whose colours are all gray stays grayscale). 16-bit colour TIFFs are read by Pillow at
8 bits. Multi-page TIFF/GIF pages are frames. Raster files carry no spacing (``"none"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import CorruptPixelDataError, NotAnImageError, UnsupportedImageError
from engine.io import pipeline
from engine.io.model import AUTO_MINMAX, FrameIndexError, StudyImage, Window, make_image

#: window mapping 0..255 to 0..1 (LINEAR_EXACT: (x - 127.5) / 255 + 0.5 = x / 255)
FULL_8BIT = Window(127.5, 255.0, "LINEAR_EXACT", "full range (8-bit)", "full range")


def _to_array(im: object) -> np.ndarray:
    from PIL import Image

    assert isinstance(im, Image.Image)
    mode = im.mode
    if mode in ("1", "LA", "La"):
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGB")
        rgb = np.asarray(im)
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return np.ascontiguousarray(rgb[..., 0])
        return rgb
    elif mode not in ("L", "RGB", "I", "F") and not mode.startswith("I;16"):
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.ndim == 3 and arr.shape[2] != 3:
        arr = arr[..., :3]
    return arr


def load_raster(path: Path, frame: int = 0) -> StudyImage:
    """Load one page of a raster image (see :func:`engine.io.load_image`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    notes: list[str] = []
    try:
        with Image.open(path) as im:
            fmt = im.format or "raster"
            n_frames = int(getattr(im, "n_frames", 1) or 1)
            if not 0 <= frame < n_frames:
                raise FrameIndexError(
                    f"has {n_frames} page(s); page {frame} does not exist.",
                    path=path,
                    fix=f"Ask for a frame from 0 to {n_frames - 1}.",
                )
            if frame:
                im.seek(frame)
            im.load()
            orientation = im.getexif().get(0x0112)
            upright = ImageOps.exif_transpose(im)
            mode = im.mode
            arr = _to_array(upright)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise NotAnImageError(f"Pillow cannot read it as an image ({exc}).", path=path) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptPixelDataError(
            f"the {path.suffix or 'image'} data is damaged ({exc}).",
            path=path,
            fix="Export or download the file again.",
        ) from exc
    if orientation and orientation != 1:
        notes.append(f"EXIF orientation {orientation} applied")
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise UnsupportedImageError(f"decoded to shape {arr.shape}.", path=path)
    if arr.dtype == np.uint8:
        window = FULL_8BIT
    else:
        center, width = pipeline.auto_window(arr)
        window = Window(center, width, "LINEAR_EXACT", AUTO_MINMAX, AUTO_MINMAX)
    photometric = "RGB" if arr.ndim == 3 else ("MONOCHROME2")
    return make_image(
        path=path,
        kind="raster",
        raw=arr,
        window=window,
        windows=(window,),
        photometric=photometric,
        color_conversion=f"{mode} -> RGB" if arr.ndim == 3 and mode != "RGB" else "",
        modality_lut="none (pixel values)",
        inversion_reason="raster image",
        n_frames=n_frames,
        frame_index=frame,
        transfer_syntax=f"{fmt} (Pillow mode {mode})",
        decoder="Pillow",
        stored_dtype=str(arr.dtype),
        notes=tuple(notes),
    )
