"""The typed result of loading an image: :class:`StudyImage` and the small records it carries.

Conventions (shared by every loader):

* ``raw`` is float32 modality values (after the Modality LUT for DICOM; the stored pixel values
  for raster and ITK files); ``H x W`` for grayscale, ``H x W x 3`` (RGB) for colour.
* ``display`` is float32 in ``[0, 1]`` after VOI (window or VOI LUT) and presentation
  (inversion); same shape as ``raw``. 0 is black on screen, 1 is white.
* Spacing is ``(row, column)`` in millimetres, always with its source.
* The arrays are read-only: a :class:`StudyImage` is frozen, a new window makes a new one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

import numpy as np

from engine.errors import ImageReadError
from engine.io import pipeline

ImageKind = Literal["dicom", "raster", "itk"]

#: Window.source for a window chosen automatically from the data range.
AUTO_MINMAX = "auto: min/max"


class FrameIndexError(ImageReadError, IndexError):
    """The requested frame (or slice) does not exist in the file."""


class SpacingSource(StrEnum):
    """Where a pixel spacing came from (values compare equal to their strings)."""

    PIXEL_SPACING = "PixelSpacing"
    IMAGER_PIXEL_SPACING = "ImagerPixelSpacing"
    IMAGER_CORRECTED = "ImagerPixelSpacing corrected by EstimatedRadiographicMagnificationFactor"
    ITK = "ITK spacing"
    NONE = "none"


@dataclass(frozen=True, eq=False)
class VoiLut:
    """One VOI LUT (a table from modality values to display values).

    Attributes:
        first_mapped: Modality value mapped by ``table[0]``; values below map to ``table[0]``,
            values beyond the table to ``table[-1]``.
        table: The LUT output values (integers of ``bits`` bits), read-only.
        bits: Nominal output depth from the LUT Descriptor; output is scaled by ``2**bits - 1``.
    """

    first_mapped: int
    table: np.ndarray
    bits: int


@dataclass(frozen=True)
class Window:
    """A VOI transform: a window (center/width/function) or a VOI LUT.

    Attributes:
        center: Window center in modality units. For a LUT, the middle of the LUT's input range
            (a start point for interactive windowing).
        width: Window width in modality units (for a LUT, its input range).
        function: ``"LINEAR"``, ``"LINEAR_EXACT"``, ``"SIGMOID"`` or ``"LUT"``.
        name: What the file calls it (WindowCenterWidthExplanation / LUTExplanation), or a
            description such as ``"auto: min/max"``.
        source: ``"WindowCenterWidth"``, ``"VOILUTSequence"``, ``"auto: min/max"``,
            ``"full range"`` (colour / 8-bit raster) or ``"user"``.
        lut: The table when ``function == "LUT"``.
    """

    center: float
    width: float
    function: str = "LINEAR"
    name: str = ""
    source: str = "user"
    lut: VoiLut | None = field(default=None, compare=False, repr=False)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Map modality values to ``[0, 1]`` with this window (no inversion)."""
        if self.lut is not None:
            return pipeline.apply_voi_lut_table(values, self.lut.table, self.lut.first_mapped, self.lut.bits)
        return pipeline.apply_window(values, self.center, self.width, self.function)

    def label(self) -> str:
        """One line for menus: ``"LUNG (C -600, W 1500, LINEAR)"``."""
        name = self.name or self.source
        if self.function == "LUT":
            return f"{name} (VOI LUT, {self.lut.table.size if self.lut else 0} entries)"
        return f"{name} (C {self.center:g}, W {self.width:g}, {self.function})"


#: RescaleType values that name no unit (PS3.3 C.11.1.1.2: "US" = unspecified).
NO_UNIT = ("", "US")


@dataclass(frozen=True)
class ImageMetadata:
    """The header fields a viewer shows (empty string / None when absent).

    ``rescale_type`` (RescaleType, also from the frame's functional groups) and ``dicom_units``
    (Units, PET) are read once when the file is loaded; :attr:`StudyImage.units` names the unit
    of the modality values from them.
    """

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""
    study_description: str = ""
    study_date: str = ""
    study_time: str = ""
    series_description: str = ""
    series_number: int | None = None
    modality: str = ""
    body_part: str = ""
    view_position: str = ""
    laterality: str = ""
    manufacturer: str = ""
    instance_number: int | None = None
    rescale_type: str = ""
    dicom_units: str = ""
    #: PatientOrientation (direction of the rows, then of the columns: e.g. ("L", "F")), () when absent.
    patient_orientation: tuple[str, ...] = ()
    #: ImageOrientationPatient (row then column direction cosines, LPS), () when absent.
    image_orientation: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class StudyImage:
    """One 2-D image (one frame) as RadLens sees it.

    Attributes:
        path: The file it came from.
        kind: ``"dicom"``, ``"raster"`` (PNG/JPEG/TIFF...) or ``"itk"`` (NIfTI/MHA/NRRD).
        raw: float32 modality values, ``H x W`` or ``H x W x 3``.
        display: float32 in [0, 1] after VOI and presentation, same shape as ``raw``.
        window: The VOI used for ``display``.
        windows: The alternatives the file offers (VOI LUTs first, then window pairs, in file
            order); when the file offers none, the automatic window alone.
        inverted: Whether presentation inverted the VOI output.
        inversion_reason: Why (or why not), e.g. ``"MONOCHROME1"``.
        photometric: Photometric interpretation in the file (``"MONOCHROME2"``, ``"RGB"``...).
        color_conversion: How colour was made RGB (``""`` when not needed).
        modality_lut: Which Modality LUT was applied, in words.
        n_frames: Frames (or slices) in the file.
        frame_index: The frame shown.
        spacing: ``(row, column)`` mm, or None.
        spacing_source: Where the spacing came from.
        transfer_syntax: Transfer syntax name and UID (DICOM), or the file format.
        decoder: The decoder that produced the pixels (e.g. ``"pydicom native"``, ``"gdcm"``).
        stored_dtype: dtype of the decoded stored values (before the Modality LUT).
        metadata: Patient/study/series fields.
        notes: Warnings met while loading (header oddities, skipped windows...).
    """

    path: Path
    kind: ImageKind
    raw: np.ndarray
    display: np.ndarray
    window: Window
    windows: tuple[Window, ...]
    inverted: bool = False
    inversion_reason: str = ""
    photometric: str = "MONOCHROME2"
    color_conversion: str = ""
    modality_lut: str = "none"
    n_frames: int = 1
    frame_index: int = 0
    spacing: tuple[float, float] | None = None
    spacing_source: SpacingSource = SpacingSource.NONE
    transfer_syntax: str = ""
    decoder: str = ""
    stored_dtype: str = ""
    metadata: ImageMetadata = field(default_factory=ImageMetadata)
    notes: tuple[str, ...] = ()

    # --- derived ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.raw.shape[0]), int(self.raw.shape[1])

    @property
    def is_color(self) -> bool:
        """True for an ``H x W x 3`` RGB image."""
        return self.raw.ndim == 3

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """``(row, column)`` spacing in mm, or None (see :attr:`spacing_source`)."""
        return self.spacing

    @property
    def units(self) -> str:
        """The unit of the modality values (``raw``), "" when the file states none.

        CT after a Modality LUT: ``HU``. Otherwise the file's RescaleType (e.g. ``OD``, ``MGML``)
        unless it is ``US`` (unspecified), or for PET its Units (e.g. ``BQML``); none when no
        Modality LUT was applied (the values are then the stored values). Read from the header
        once, at load (:class:`ImageMetadata`).
        """
        if self.modality_lut.startswith("none"):
            return ""
        m = self.metadata
        if m.modality == "CT":
            return "HU"
        if m.rescale_type.upper() not in NO_UNIT:
            return m.rescale_type
        return m.dicom_units if m.modality == "PT" else ""

    @property
    def value_range(self) -> tuple[float, float]:
        """Minimum and maximum of ``raw`` (finite values only)."""
        return pipeline.finite_range(self.raw)

    # --- windowing ------------------------------------------------------------------------------
    def windowed(self, center: float, width: float, function: str | None = None) -> np.ndarray:
        """Display values for another window (same presentation/inversion as this image).

        Args:
            center: Window center in modality units.
            width: Window width in modality units.
            function: ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``; default: the current
                window's function (``LINEAR`` when the current VOI is a LUT).
        """
        return self.with_window(center, width, function).display

    def with_window(self, center: float, width: float, function: str | None = None, name: str = "user") -> StudyImage:
        """A copy of this image displayed with another window."""
        if function is None:
            function = "LINEAR" if self.window.function == "LUT" else self.window.function
        window = Window(float(center), float(width), function.upper(), name, "user")
        return self.with_voi(window)

    def with_voi(self, window: Window) -> StudyImage:
        """A copy displayed with ``window`` (e.g. one of :attr:`windows`)."""
        display = pipeline.apply_presentation(window.apply(self.raw), self.inverted)
        return dataclasses.replace(self, window=window, display=_readonly(display))


def apply_voi(values: np.ndarray, window: Window) -> np.ndarray:
    """VOI step: modality values to float32 [0, 1] with a window pair or a VOI LUT."""
    return window.apply(values)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def make_image(**kwargs: object) -> StudyImage:
    """Build a :class:`StudyImage`, computing ``display`` and freezing the arrays."""
    raw = np.ascontiguousarray(kwargs.pop("raw"), dtype=np.float32)
    window = kwargs["window"]
    assert isinstance(window, Window)
    inverted = bool(kwargs.get("inverted", False))
    display = pipeline.apply_presentation(window.apply(raw), inverted)
    return StudyImage(raw=_readonly(raw), display=_readonly(display), **kwargs)  # type: ignore[arg-type]
