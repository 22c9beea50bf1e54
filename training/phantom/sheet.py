"""Contact sheets: generated images with their true boxes drawn, for looking at the phantoms."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from training.phantom.case import PhantomCase

#: Box colour per class (RGB), in CLASSES order.
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "Nodule/Mass": (255, 80, 80),
    "Pleural effusion": (80, 170, 255),
    "Pneumothorax": (255, 220, 0),
    "Cardiomegaly": (255, 0, 255),
    "Consolidation": (0, 230, 120),
}


def contact_sheet(
    cases: Sequence[PhantomCase], columns: int = 4, tile: int = 320, annotators: bool = False
) -> Image.Image:
    """Tile the cases with their true boxes (and optionally annotator boxes, thin) and labels."""
    rows = (len(cases) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * (tile + 18)), (20, 20, 20))
    for i, case in enumerate(cases):
        im = Image.fromarray(np.rint(case.image * 255).astype(np.uint8)).convert("RGB")
        im = im.resize((tile, tile), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(im)
        f = tile / case.size
        if annotators:
            for a in case.annotations:
                x0, y0, x1, y1 = (v * f for v in a.box)
                draw.rectangle((x0, y0, x1, y1), outline=(160, 160, 160), width=1)
        for tf in case.findings:
            x0, y0, x1, y1 = (v * f for v in tf.box)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=CLASS_COLOURS[tf.class_name], width=2)
        if case.shortcut_box is not None:
            x0, y0, x1, y1 = (v * f for v in case.shortcut_box)
            draw.rectangle((x0 - 2, y0 - 2, x1 + 1, y1 + 1), outline=(255, 140, 0), width=1)
        r, c = divmod(i, columns)
        sheet.paste(im, (c * tile, r * (tile + 18)))
        label = ", ".join(case.class_names) or "No finding"
        label += f"  CTR {case.ctr:.2f}"
        ImageDraw.Draw(sheet).text((c * tile + 4, r * (tile + 18) + tile + 3), label,
                                   fill=(230, 230, 230))
    return sheet


def save_contact_sheet(
    cases: Sequence[PhantomCase], path: str | os.PathLike[str], columns: int = 4, tile: int = 320
) -> None:
    """Render :func:`contact_sheet` and save it as a PNG."""
    contact_sheet(cases, columns=columns, tile=tile).save(os.fspath(path))
