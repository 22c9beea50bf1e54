"""A JSON-ready summary of what RadLens decided about an image (``radlens info``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.io.model import StudyImage, Window


def _window(w: Window) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": w.name,
        "source": w.source,
        "function": w.function,
        "center": w.center,
        "width": w.width,
    }
    if w.lut is not None:
        out["lut"] = {"entries": int(w.lut.table.size), "first_mapped": w.lut.first_mapped, "bits": w.lut.bits}
    return out


def describe(image: StudyImage) -> dict[str, Any]:
    """Metadata and every pipeline decision of ``image`` as plain JSON types."""
    lo, hi = image.value_range
    return {
        "path": str(image.path),
        "kind": image.kind,
        "shape": list(image.raw.shape),
        "is_color": image.is_color,
        "frame_index": image.frame_index,
        "n_frames": image.n_frames,
        "transfer_syntax": image.transfer_syntax,
        "decoder": image.decoder,
        "stored_dtype": image.stored_dtype,
        "photometric": image.photometric,
        "color_conversion": image.color_conversion,
        "modality_lut": image.modality_lut,
        "raw_dtype": str(image.raw.dtype),
        "value_range": [lo, hi],
        "window": _window(image.window),
        "windows": [_window(w) for w in image.windows],
        "inverted": image.inverted,
        "inversion_reason": image.inversion_reason,
        "spacing_mm": list(image.spacing) if image.spacing else None,
        "spacing_source": str(image.spacing_source),
        "metadata": dataclasses.asdict(image.metadata),
        "notes": list(image.notes),
    }
