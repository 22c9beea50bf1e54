"""Annotations: boxes and image-level labels, their file formats, and matching to images.

Box convention (used everywhere in RadLens): continuous **pixel-edge** coordinates in the
original image (full resolution, before any resizing for a model). x grows to the right,
y grows downwards, and the origin (0, 0) is the top-left corner of the top-left pixel, so
pixel (row i, column j) covers ``[j, j+1) x [i, i+1)``. A box is ``(x0, y0, x1, y1)`` with
``x1 >= x0`` and ``y1 >= y0``; zero width or height is allowed, negative is rejected. A box
covering exactly pixels rows ``r0..r1`` and columns ``c0..c1`` (inclusive) is
``(c0, r0, c1 + 1, r1 + 1)``. VinBigData and NIH coordinates are used as written; SIIM masks
give boxes by this rule.

Formats read (auto-detected by :func:`read_annotations`): VinBigData ``train.csv``, NIH
ChestX-ray14 ``BBox_List_2017.csv``, SIIM-ACR ``train-rle.csv``, RadLens's own
``<image>.radlens.json`` sidecar and DICOM SRs (TID 1500 planar ROIs, keyed by the referenced SOP
Instance UID; :mod:`engine.annotations.dicom_sr`). Written: sidecars and VinBigData-style CSV.
"""

from engine.annotations.formats import (
    FORMATS,
    AnnotationFormat,
    detect_format,
    format_by_name,
    read_annotations,
)
from engine.annotations.matching import MatchReport, image_key, match_to_images
from engine.annotations.model import (
    NO_FINDING,
    AnnotationSet,
    BoxAnnotation,
    ImageAnnotations,
    ImageLabel,
    SetBuilder,
    Source,
    stable_id,
)
from engine.annotations.nih import read_nih
from engine.annotations.sidecar import (
    SCHEMA_VERSION,
    ImageReference,
    Sidecar,
    find_sidecar,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from engine.annotations.siim import (
    decode_siim_rle,
    encode_siim_rle,
    mask_to_boxes,
    read_siim,
    read_siim_masks,
    read_siim_rle,
)
from engine.annotations.vinbigdata import (
    VINBIGDATA_CLASS_IDS,
    read_vinbigdata,
    write_vinbigdata_csv,
)

__all__ = [
    "FORMATS",
    "NO_FINDING",
    "SCHEMA_VERSION",
    "VINBIGDATA_CLASS_IDS",
    "AnnotationFormat",
    "AnnotationSet",
    "BoxAnnotation",
    "ImageAnnotations",
    "ImageLabel",
    "ImageReference",
    "MatchReport",
    "SetBuilder",
    "Sidecar",
    "Source",
    "decode_siim_rle",
    "detect_format",
    "encode_siim_rle",
    "find_sidecar",
    "format_by_name",
    "image_key",
    "mask_to_boxes",
    "match_to_images",
    "read_annotations",
    "read_nih",
    "read_sidecar",
    "read_siim",
    "read_siim_masks",
    "read_siim_rle",
    "read_vinbigdata",
    "sidecar_path",
    "stable_id",
    "write_sidecar",
    "write_vinbigdata_csv",
]
