"""DICOM files to :class:`StudyImage`: read, decode one frame, run the display pipeline.

Decoding goes through pydicom 3's decoder plugins; every installed plugin for the transfer syntax
is tried in pydicom's order and the one that worked is recorded (``StudyImage.decoder``). When no
plugin is installed the error names the permissive package to install (pylibjpeg-libjpeg, GPL-3,
is never recommended).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from engine.errors import (
    CorruptPixelDataError,
    NotAnImageError,
    UnsupportedImageError,
    UnsupportedTransferSyntaxError,
)
from engine.io import dicom_header as hdr
from engine.io import pipeline
from engine.io.model import AUTO_MINMAX, FrameIndexError, StudyImage, Window, make_image

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: DICOM groups a preamble-less file may start with (little or big endian)
_FIRST_GROUPS = {0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028}


def looks_like_dicom(head: bytes) -> bool:
    """Whether ``head`` (the first bytes) is DICOM: ``DICM`` at 128, or a plausible first tag."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    for offset in range(4):  # some writers leave a stray byte or two before the first tag
        group = head[offset : offset + 2]
        if int.from_bytes(group, "little") in _FIRST_GROUPS or int.from_bytes(group, "big") in _FIRST_GROUPS:
            return True
    return False


def install_hint(ts: UID) -> str:
    """The permissive package(s) that decode ``ts``."""
    uid = str(ts)
    if uid in ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"):
        return "install python-gdcm (BSD) or pyjpegls (MIT)"
    if uid.startswith("1.2.840.10008.1.2.4.20"):  # HTJ2K
        return "install pylibjpeg and pylibjpeg-openjpeg (MIT)"
    if uid in ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"):
        return "install pylibjpeg and pylibjpeg-openjpeg (MIT), or python-gdcm (BSD)"
    if uid.startswith("1.2.840.10008.1.2.4.") and uid.split(".")[-1] in ("50", "51", "57", "70"):
        return "install python-gdcm (BSD) (not pylibjpeg-libjpeg, which is GPL-3)"
    return (
        "RadLens knows no permissive decoder for it; convert the file to an uncompressed "
        "transfer syntax (e.g. gdcmconv --raw IN OUT)"
    )


def read_dataset(path: Path, head: bytes, **kwargs: Any) -> Dataset:
    """``dcmread`` with ``force=True`` only for files that look like DICOM without a preamble."""
    try:
        try:
            return pydicom.dcmread(path, **kwargs)
        except InvalidDicomError:
            if not looks_like_dicom(head):
                raise NotAnImageError("is neither DICOM nor an image format RadLens reads.", path=path) from None
            return pydicom.dcmread(path, force=True, **kwargs)
    except NotAnImageError:
        raise
    except MemoryError as exc:
        raise NotAnImageError(
            "DICOM header claims an impossibly large element.", path=path, fix="The file is damaged; export it again."
        ) from exc
    except Exception as exc:
        raise NotAnImageError(
            f"the DICOM header could not be read ({exc}).",
            path=path,
            fix="The file is damaged or truncated; export it again.",
        ) from exc


def _transfer_syntax(ds: Dataset) -> UID:
    """The transfer syntax, filled in from the encoding read when the meta lacks it."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(ts)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if little is False:
        ts = ExplicitVRBigEndian
    elif implicit is False:
        ts = ExplicitVRLittleEndian
    else:
        ts = ImplicitVRLittleEndian
    if meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    return ts


def _n_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def decode_frame(ds: Dataset, path: Path, frame: int) -> tuple[np.ndarray, dict[str, Any], str]:
    """Decode one frame with the first plugin that works: ``(array, pydicom meta, decoder)``."""
    from pydicom.pixels import get_decoder

    ts = _transfer_syntax(ds)
    ts_text = f"{ts.name} ({ts})" if ts.is_transfer_syntax else str(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnsupportedTransferSyntaxError(
            f"no decoder exists for transfer syntax {ts_text}.", path=path, fix=install_hint(ts)
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise UnsupportedTransferSyntaxError(
            f"no installed decoder handles transfer syntax {ts_text} (plugins: {missing}).",
            path=path,
            fix=install_hint(ts),
        )
    plugins = list(decoder.available_plugins) or [""]
    options: dict[str, Any] = {"as_rgb": True}  # YBR -> RGB
    failures = []
    for plugin in plugins:
        try:
            arr, meta = decoder.as_array(ds, index=frame, decoding_plugin=plugin, **options)
        except MemoryError as exc:
            raise CorruptPixelDataError("the header describes more pixels than fit in memory.", path=path) from exc
        except Exception as exc:
            failures.append(f"{plugin or 'pydicom'}: {exc}")
            continue
        name = plugin or "pydicom native"
        return arr, meta, name
    if failures and all("does not support" in f for f in failures):
        raise UnsupportedTransferSyntaxError(
            f"no installed decoder supports this {ts_text} data: {' | '.join(failures)}",
            path=path,
            fix="Convert the file to an uncompressed transfer syntax with a "
            "permissive tool (gdcmconv --raw IN OUT, or DCMTK's dcmdjpeg); the only pydicom "
            "plugin for such data, pylibjpeg-libjpeg, is GPL-3.",
        )
    raise CorruptPixelDataError(
        f"pixel data ({ts_text}) could not be decoded: {' | '.join(failures)}",
        path=path,
        fix="The file is damaged or its header does not describe its pixels.",
    )


def _modality(ds: Dataset, stored: np.ndarray, frame: int, path: Path, notes: list[str]) -> tuple[np.ndarray, str]:
    """Modality LUT: sequence, else slope/intercept (also from functional groups), else none."""
    if stored.dtype.kind == "f":
        return stored.astype(np.float32), "none (float pixel data)"
    if ds.get("ModalityLUTSequence"):
        try:
            values = pipeline.apply_modality(stored, ds)
        except Exception as exc:
            raise CorruptPixelDataError(f"the Modality LUT Sequence is unusable ({exc}).", path=path) from exc
        explanation = hdr._text(ds.ModalityLUTSequence[0].get("LUTExplanation"))
        return values, "Modality LUT Sequence" + (f" ({explanation})" if explanation else "")
    slope = hdr.frame_attr(ds, "RescaleSlope", frame)
    intercept = hdr.frame_attr(ds, "RescaleIntercept", frame)
    if slope is None and intercept is None:
        return stored.astype(np.float32), "none (stored values)"
    try:
        s = float(slope) if slope is not None else 1.0
        i = float(intercept) if intercept is not None else 0.0
    except (TypeError, ValueError):
        notes.append(f"Rescale Slope/Intercept {slope!r}/{intercept!r} unreadable; not applied")
        return stored.astype(np.float32), "none (unreadable Rescale Slope/Intercept)"
    if not (np.isfinite(s) and np.isfinite(i)) or s == 0:
        notes.append(f"Rescale Slope {s} / Intercept {i} invalid; not applied")
        return stored.astype(np.float32), "none (invalid Rescale Slope/Intercept)"
    return pipeline.apply_rescale(stored, s, i), f"RescaleSlope {s:g}, RescaleIntercept {i:g}"


def load_dicom(path: Path, head: bytes, frame: int = 0) -> StudyImage:
    """Load one frame of a DICOM file (see :func:`engine.io.load_image`)."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_dataset(path, head)
        if not any(k in ds for k in PIXEL_KEYWORDS):
            sop = ds.get("SOPClassUID")
            what = UID(sop).name if sop else "a DICOM object"
            raise NotAnImageError(
                f"holds no pixel data (it is {what}).", path=path, fix="Open an image object of the study instead."
            )
        n_frames = _n_frames(ds)
        if not 0 <= frame < n_frames:
            raise FrameIndexError(
                f"has {n_frames} frame(s); frame {frame} does not exist.",
                path=path,
                fix=f"Ask for a frame from 0 to {n_frames - 1}.",
            )
        arr, meta, decoder = decode_frame(ds, path, frame)
        image = _assemble(ds, path, arr, meta, decoder, frame, n_frames, notes)
    seen = list(dict.fromkeys(str(w.message) for w in caught))
    return _with_notes(image, notes + seen[:20])


def _with_notes(image: StudyImage, notes: list[str]) -> StudyImage:
    import dataclasses

    return dataclasses.replace(image, notes=tuple(notes))


def _assemble(
    ds: Dataset,
    path: Path,
    arr: np.ndarray,
    meta: dict[str, Any],
    decoder: str,
    frame: int,
    n_frames: int,
    notes: list[str],
) -> StudyImage:
    photometric = hdr._text(ds.get("PhotometricInterpretation")).upper()
    out_pi = str(meta.get("photometric_interpretation", photometric)).upper()
    conversion = ""
    if out_pi == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            raise CorruptPixelDataError(f"the palette colour LUT is unusable ({exc}).", path=path) from exc
        conversion = "PALETTE COLOR -> RGB"
    elif arr.ndim == 3 and out_pi != photometric:
        conversion = f"{photometric} -> {out_pi}"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 and not (arr.ndim == 3 and arr.shape[2] == 3):
        raise UnsupportedImageError(
            f"decoded frame has shape {arr.shape}; RadLens shows grayscale or 3-sample colour.", path=path
        )
    ts = _transfer_syntax(ds)
    spacing, source = hdr.read_spacing(ds, frame)
    common: dict[str, Any] = dict(
        path=path,
        kind="dicom",
        photometric=photometric,
        color_conversion=conversion,
        n_frames=n_frames,
        frame_index=frame,
        spacing=spacing,
        spacing_source=source,
        transfer_syntax=f"{ts.name} ({ts})" if ts.is_transfer_syntax else str(ts),
        decoder=decoder,
        stored_dtype=str(arr.dtype),
        metadata=hdr.read_metadata(ds, frame),
    )
    if arr.ndim == 3:
        hi = _colour_max(ds, arr)
        window = Window(hi / 2.0, hi, "LINEAR_EXACT", "full range", "full range")
        return make_image(
            raw=arr,
            window=window,
            windows=(window,),
            modality_lut="none (colour)",
            inversion_reason="colour image",
            **common,
        )
    if not photometric.startswith("MONOCHROME"):
        notes.append(f"one-sample image with photometric interpretation {photometric!r}; shown as MONOCHROME2")
    raw, modality = _modality(ds, arr, frame, path, notes)
    windows = hdr.read_voi_luts(ds, notes) + hdr.read_window_pairs(ds, frame, notes)
    if not windows:
        center, width = pipeline.auto_window(raw)
        windows = [Window(center, width, "LINEAR_EXACT", AUTO_MINMAX, AUTO_MINMAX)]
    inverted, why = hdr.presentation(ds, photometric)
    return make_image(
        raw=raw,
        window=windows[0],
        windows=tuple(windows),
        modality_lut=modality,
        inverted=inverted,
        inversion_reason=why,
        **common,
    )


def _colour_max(ds: Dataset, arr: np.ndarray) -> float:
    """Full-scale value of a colour image: from Bits Stored, or from the dtype after a palette."""
    if arr.dtype.kind == "f":
        _, hi = pipeline.finite_range(arr)
        return hi if hi > 0 else 1.0
    bits = ds.get("BitsStored")
    try:
        bits = int(bits)
    except (TypeError, ValueError):
        bits = 0
    if "PALETTE" in str(ds.get("PhotometricInterpretation", "")).upper() or not 1 <= bits <= 32:
        bits = arr.dtype.itemsize * 8
    return float(2**bits - 1)
