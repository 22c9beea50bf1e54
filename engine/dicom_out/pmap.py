"""The heatmaps as a Parametric Map: one float32 frame per exported class (highdicom).

Each frame holds one class's map in the source image's pixels (same rows and columns, so the
map lies on the image: Spatial Locations Preserved = YES in the derivation reference), with the
values RadLens shows (the result's normalisation, usually per-map [0, 1]). Each frame has its own
identity real-world value mapping (slope 1, intercept 0, unit "no units") whose LUT label is the
class name and whose explanation names the method, layer and normalisation.

The Parametric Map IOD requires a Frame of Reference and plane position/orientation, which a
projection radiograph does not have: the map gets a nominal frame of reference of its own (a new
Frame of Reference UID; position (0, 0, 0), rows along x and columns along y, the source's pixel
spacing) that places nothing in the patient. The frames differ only in their class (channel).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np

from engine.dicom_out import common as c


def _geometry_source(source: c.Source) -> Any:
    """A copy of the source header with the nominal frame of reference described above."""
    ds = copy.deepcopy(source.dataset)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or [1.0, 1.0]
    ds.FrameOfReferenceUID = c.derived_uid(f"frame-of-reference:{ds.SOPInstanceUID}")
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.SliceThickness = 1.0
    return ds


def build_parametric_map(
    source: c.Source, result: Any, classes: Sequence[str], *, app_version: str = "unknown",
    series_uid: str | None = None,
) -> hd.pm.ParametricMap:
    """The Parametric Map of ``classes``' heatmaps (see the module doc)."""
    geo = _geometry_source(source)
    maps = np.stack([result.map(cls) for cls in classes], axis=-1).astype(np.float32)[None]  # 1 x H x W x C
    if maps.shape[1:3] != (int(geo.Rows), int(geo.Columns)):
        raise c.DicomExportError(
            f"the heatmaps are {maps.shape[1]}x{maps.shape[2]} pixels but the source image is "
            f"{geo.Rows}x{geo.Columns}.", fix="explain the image the export references (same frame).")
    layers = ", ".join(result.layers) or "input gradient"
    mappings = []
    for k, cls in enumerate(classes):
        lo, hi = float(maps[..., k].min()), float(maps[..., k].max())
        mappings.append([hd.pm.RealWorldValueMapping(
            lut_label=source.scrub(cls)[:16], lut_explanation=f"{result.method} {layers} {result.normalisation}"[:64],
            unit=c.NO_UNITS, value_range=(lo, hi if hi > lo else lo + 1.0), slope=1.0, intercept=0.0,
            quantity_definition=c.HEATMAP_QUANTITY)])
    name, version, _ = c.model_text(result.model)
    pm = hd.pm.ParametricMap(
        [geo], maps, series_instance_uid=series_uid or hd.UID(), series_number=c.SERIES_NUMBERS["pm"],
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="RadLens", manufacturer_model_name=name[:64],
        software_versions=app_version, device_serial_number="none", contains_recognizable_visual_features=False,
        real_world_value_mappings=mappings,
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        series_description=f"RadLens heatmap {result.method} ({c.RESEARCH})"[:64],
        content_label="HEATMAP", content_description=source.scrub(f"{name} {version}: {', '.join(classes)}")[:64])
    if "Laterality" not in pm:
        setattr(pm, "Laterality", None)  # noqa: B010 - Type 2C in the General Series module; the source has ImageLaterality only
    return c.finish(pm, source)
