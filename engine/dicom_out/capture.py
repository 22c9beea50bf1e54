"""The overlay as seen on screen, as Secondary Capture images (RGB), one per exported class.

For viewers that do not show Parametric Maps: each image is what ``radlens explain`` writes as
PNG (:func:`engine.render.class_overlay`: the heatmap over the image, ground-truth, user and model
boxes, a legend with the probability, method, layer and model). The pixels carry text, so Burned
In Annotation is ``YES``; the capture has no spatial relation to the source (a legend panel is added
and the image is upscaled), so it references the source image only as its derivation source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from engine.dicom_out import common as c


def overlay_rgb(image: Any, result: Any, cls: str, loc: Any, annotations: Any, colormap: str) -> np.ndarray:
    """The class's overlay as an ``H x W x 3`` uint8 array (what the PNG overlay holds)."""
    from engine.render import class_overlay

    rgb = class_overlay(image, result, cls, loc, annotations, cmap=colormap)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., :3])


def _orientation(ds: Dataset) -> tuple[str, str] | None:
    """The source's Patient Orientation (the capture keeps its rows and columns), when it has one."""
    value = [str(v) for v in (ds.get("PatientOrientation") or [])]
    return (value[0], value[1]) if len(value) == 2 and all(value) else None


def build_captures(
    source: c.Source, image: Any, result: Any, classes: Sequence[str], *, localisation: Any = None,
    annotations: Any = None, colormap: str = "jet", app_version: str = "unknown", series_uid: str | None = None,
) -> list[hd.sc.SCImage]:
    """One RGB Secondary Capture per class, in one series (see the module doc)."""
    series = series_uid or hd.UID()
    out = []
    for k, cls in enumerate(classes):
        rgb = overlay_rgb(image, result, cls, (localisation or {}).get(cls), annotations, colormap)
        sc = hd.sc.SCImage.from_ref_dataset(
            source.dataset, rgb, photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
            series_instance_uid=series, series_number=c.SERIES_NUMBERS["sc"], sop_instance_uid=hd.UID(),
            instance_number=k + 1, manufacturer="RadLens", transfer_syntax_uid=ExplicitVRLittleEndian,
            patient_orientation=_orientation(source.dataset))
        sc.SeriesDescription = f"RadLens overlay ({c.RESEARCH})"[:64]
        sc.ImageComments = source.scrub(f"{cls}: {result.method} explanation, {c.RESEARCH}")[:10240]
        sc.BurnedInAnnotation = "YES"
        if "Laterality" not in sc:
            setattr(sc, "Laterality", None)  # noqa: B010 - Type 2C in General Series (dciodvfy: error if absent, warning if empty)
        sc.SoftwareVersions = app_version
        sc.DerivationDescription = f"{result.method} heatmap overlay of {source.scrub(cls)}"[:1024]
        ref = Dataset()
        ref.ReferencedSOPClassUID = source.dataset.SOPClassUID
        ref.ReferencedSOPInstanceUID = source.dataset.SOPInstanceUID
        sc.SourceImageSequence = [ref]
        out.append(c.finish(sc, source))
    return out
