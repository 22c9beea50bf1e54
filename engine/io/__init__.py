"""Image and study I/O: files to :class:`StudyImage`, folders to a study index.

Public API::

    load_image(path, frame=0) -> StudyImage
    StudyImage.with_window(center, width, function=None) / .windowed(...) / .with_voi(window)
    apply_modality, apply_rescale          Modality LUT step
    apply_voi(values, window)              VOI step (window pair or VOI LUT) -> [0, 1]
    apply_window, apply_voi_lut_table      the two VOI kinds as plain array functions
    apply_presentation(display, invert)    presentation step
    describe(image) -> dict            (JSON-ready summary, used by ``radlens info``)
    engine.io.study: scan_folder(path) -> StudyIndex, thumbnail(path, size=128)
"""

from engine.io.describe import describe
from engine.io.loader import detect_format, load_image
from engine.io.model import (
    AUTO_MINMAX,
    FrameIndexError,
    ImageMetadata,
    SpacingSource,
    StudyImage,
    VoiLut,
    Window,
    apply_voi,
)
from engine.io.pipeline import (
    apply_modality,
    apply_presentation,
    apply_rescale,
    apply_voi_lut_table,
    apply_window,
    auto_window,
)

__all__ = [
    "AUTO_MINMAX",
    "FrameIndexError",
    "ImageMetadata",
    "SpacingSource",
    "StudyImage",
    "VoiLut",
    "Window",
    "apply_modality",
    "apply_presentation",
    "apply_rescale",
    "apply_voi",
    "apply_voi_lut_table",
    "apply_window",
    "auto_window",
    "describe",
    "detect_format",
    "load_image",
]
