"""Write small synthetic DICOM files (tests, benchmarks, demos). Not for clinical use."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def make_dataset(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    transfer_syntax: UID = ExplicitVRLittleEndian,
    **attrs: Any,
) -> Dataset:
    """A Secondary Capture dataset holding ``pixels`` uncompressed.

    ``pixels`` is ``(rows, cols)``, ``(frames, rows, cols)``, ``(rows, cols, 3)`` or
    ``(frames, rows, cols, 3)`` of an integer dtype; the dtype sets Bits Allocated and Pixel
    Representation. Extra keyword arguments become DICOM attributes (``WindowCenter=40``...).
    """
    arr = np.asarray(pixels)
    samples = 3 if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422") else 1
    frames = arr.shape[0] if arr.ndim == (4 if samples == 3 else 3) else 1
    rows, cols = (arr.shape[-3], arr.shape[-2]) if samples == 3 else arr.shape[-2:]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = attrs.pop("SOPInstanceUID", generate_uid())
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = attrs.pop("StudyInstanceUID", generate_uid())
    ds.SeriesInstanceUID = attrs.pop("SeriesInstanceUID", generate_uid())
    ds.Modality = attrs.pop("Modality", "OT")
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    if frames > 1 or "NumberOfFrames" in attrs:
        ds.NumberOfFrames = attrs.pop("NumberOfFrames", frames)
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    little = arr.dtype.newbyteorder("<")
    ds.PixelData = np.ascontiguousarray(arr, dtype=little).tobytes()
    return ds


def write_dicom(path: str | os.PathLike[str], pixels: np.ndarray, **kwargs: Any) -> Dataset:
    """Write :func:`make_dataset` ``(pixels, **kwargs)`` to ``path`` (with preamble)."""
    ds = make_dataset(pixels, **kwargs)
    ts = ds.file_meta.TransferSyntaxUID
    ds.save_as(path, enforce_file_format=True, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian)
    return ds
