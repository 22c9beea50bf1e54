"""Write a phantom dataset: images, a VinBigData-format ``train.csv``, an exact ``truth.json`` and
``targets.csv`` (continuous targets per image: the cardiothoracic ratio and the widths it is made of)."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import RadLensError
from training.gaze import GAZE_SCHEMA_VERSION, GAZE_SUFFIX, write_gaze
from training.phantom.case import PhantomCase, generate_case
from training.phantom.config import (
    BOX_CONVENTION,
    CLASSES,
    GENERATOR_VERSION,
    NO_FINDING,
    NO_FINDING_ID,
    PhantomConfig,
)
from training.phantom.gaze import GazeConfig, simulate_gaze
from training.phantom.geometry import encode_rle, mask_width, thorax_width
from training.phantom.writers import dicom_bytes, pixel_spacing_mm, png_bytes

#: Schema version of ``truth.json``.
TRUTH_SCHEMA_VERSION = 1

#: Header of ``train.csv`` (VinBigData).
CSV_HEADER = ("image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max")

#: Folder, inside the output folder, that holds the images.
IMAGE_DIR = "images"

FORMATS = {"dicom": ".dcm", "png": ".png"}

#: File, inside the output folder, of the continuous (regression) targets, one row per image.
TARGETS_CSV = "targets.csv"
#: Its header: the cardiothoracic ratio as a radiologist measures it on a PA film (widest
#: horizontal extent of the heart over the widest inner width of the thorax, both measured on
#: the rendered masks) and the two widths in pixels.
TARGETS_HEADER = ("image_id", "cardiothoracic_ratio", "heart_width_px", "thorax_width_px")


class PhantomDatasetError(RadLensError):
    """A phantom dataset could not be written as asked."""


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`generate_dataset` wrote.

    Attributes:
        out_dir: The output folder.
        n: Number of images.
        class_counts: Images containing each class.
        normals: Images without any finding.
        shortcuts: Images carrying the shortcut token.
        seconds: Wall time.
    """

    out_dir: Path
    n: int
    class_counts: dict[str, int] = field(default_factory=dict)
    normals: int = 0
    shortcuts: int = 0
    seconds: float = 0.0


def case_seed(seed: int, index: int) -> int:
    """Seed of image ``index`` in a dataset generated with ``seed`` (independent streams)."""
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def image_id(index: int) -> str:
    """Image id (and file stem) of image ``index``."""
    return f"phantom_{index:05d}"


def csv_rows(image: str, case: PhantomCase) -> list[list[str]]:
    """The VinBigData rows of one image: each reader's boxes, or one "No finding" row."""
    rows: list[list[str]] = []
    for reader in case.readers:
        boxes = [a for a in case.annotations if a.annotator == reader]
        if not boxes:
            rows.append([image, NO_FINDING, str(NO_FINDING_ID), reader, "", "", "", ""])
        for a in boxes:
            rows.append(
                [image, a.class_name, str(CLASSES.index(a.class_name)), reader,
                 *(f"{v:.1f}" for v in a.box)]
            )
    return rows


def target_row(image: str, case: PhantomCase) -> list[str]:
    """The ``targets.csv`` row of one image (see :data:`TARGETS_HEADER`)."""
    heart, thorax = mask_width(case.heart_mask), thorax_width(case.thorax_mask)
    return [image, f"{heart / thorax if thorax else 0.0:.6f}", str(heart), str(thorax)]


def truth_record(image: str, file_name: str, index: int, case: PhantomCase) -> dict[str, Any]:
    """The exact truth of one image as a JSON-ready dict (masks run-length encoded)."""
    return {
        "image_id": image,
        "file": file_name,
        "index": index,
        "case_seed": case.seed,
        "patient_id": case.patient_id,
        "study_uid": case.study_uid,
        "series_uid": case.series_uid,
        "sop_uid": case.sop_uid,
        "size": case.size,
        "photometric": case.photometric,
        "laterality": case.laterality,
        "laterality_box": list(case.laterality_box),
        "shortcut": case.shortcut,
        "shortcut_box": list(case.shortcut_box) if case.shortcut_box else None,
        "ctr": round(case.ctr, 4),
        "readers": list(case.readers),
        "findings": [
            {
                "class_name": f.class_name,
                "class_id": f.class_id,
                "box": list(f.box),
                "side": f.side,
                "area_px": int(f.mask.sum()),
                "mask_rle": encode_rle(f.mask),
            }
            for f in case.findings
        ],
        "annotations": [
            {"rad_id": a.annotator, "class_name": a.class_name, "box": list(a.box),
             "finding_index": a.finding_index}
            for a in case.annotations
        ],
    }


def _make_one(job: tuple[int, int, dict[str, Any], str, str, dict[str, Any] | None]) -> dict[str, Any]:
    """Generate and write image ``index`` (and its gaze file); return its truth record and CSV rows."""
    index, seed, config_dict, out_dir, fmt, gaze_dict = job
    config = PhantomConfig.from_dict(config_dict)
    case = generate_case(case_seed(seed, index), config, case_index=index)
    ident = image_id(index)
    file_name = f"{IMAGE_DIR}/{ident}{FORMATS[fmt]}"
    data = dicom_bytes(case, instance_number=index + 1) if fmt == "dicom" else png_bytes(case)
    atomic_write_bytes(Path(out_dir) / file_name, data)
    truth = truth_record(ident, file_name, index, case)
    if gaze_dict is not None:
        gaze_file = f"{IMAGE_DIR}/{ident}{GAZE_SUFFIX}"
        write_gaze(Path(out_dir) / gaze_file, simulate_gaze(case, GazeConfig(**gaze_dict)))
        truth["gaze_file"] = gaze_file
    return {
        "truth": truth,
        "rows": csv_rows(ident, case),
        "target": target_row(ident, case),
        "classes": list(case.class_names),
        "shortcut": case.shortcut,
    }


def generate_dataset(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int,
    config: PhantomConfig | None = None,
    fmt: str = "dicom",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    gaze: GazeConfig | None = None,
) -> DatasetSummary:
    """Generate ``n`` phantom images into ``out_dir``.

    Writes ``images/phantom_NNNNN.dcm`` (or ``.png``), ``train.csv`` in VinBigData format,
    ``truth.json`` with the exact boxes and masks, the configuration, seed and generator version,
    and ``targets.csv`` with each image's cardiothoracic ratio (:data:`TARGETS_HEADER`).
    Every file is written atomically. The output depends only on ``n``, ``seed`` and ``config``,
    not on ``workers``. With ``gaze``, each image also gets ``images/<id>.gaze.npz`` (simulated
    fixations and density, :mod:`training.gaze`), drawn from a separate random stream: the
    images, ``train.csv`` and the rest of ``truth.json`` are the same as without it.

    Args:
        out_dir: Output folder (created if needed).
        n: Number of images (>= 1).
        seed: Dataset seed; image ``i`` uses :func:`case_seed` ``(seed, i)``.
        config: Generator configuration (defaults when None).
        fmt: "dicom" or "png".
        workers: Processes to use (1 runs in this process).
        progress: Called as ``progress(done, n)`` after each image.
        gaze: Write simulated gaze with these settings (None: no gaze files).

    Raises:
        PhantomDatasetError: For a bad format, count or output folder.
    """
    start = time.perf_counter()
    config = config or PhantomConfig()
    out = Path(out_dir)
    if fmt not in FORMATS:
        raise PhantomDatasetError(f"Unknown image format {fmt!r}.", fix="Use 'dicom' or 'png'.")
    if n < 1:
        raise PhantomDatasetError(f"Cannot generate {n} images.", fix="Ask for at least one.")
    if out.exists() and not out.is_dir():
        raise PhantomDatasetError("The output path is a file, not a folder.", path=out,
                                  fix="Choose a folder.")
    (out / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    gaze_dict = gaze.to_dict() if gaze is not None else None
    jobs = [(i, seed, config.to_dict(), str(out), fmt, gaze_dict) for i in range(n)]
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for job in jobs:
            results.append(_make_one(job))
            if progress:
                progress(len(results), n)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_make_one, jobs, chunksize=max(1, min(16, n // (4 * workers)))):
                results.append(res)
                if progress:
                    progress(len(results), n)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for res in results:
        writer.writerows(res["rows"])
    atomic_write_text(out / "train.csv", buffer.getvalue())
    targets = io.StringIO()
    target_writer = csv.writer(targets, lineterminator="\n")
    target_writer.writerow(TARGETS_HEADER)
    target_writer.writerows(res["target"] for res in results)
    atomic_write_text(out / TARGETS_CSV, targets.getvalue())

    spacing, imager = pixel_spacing_mm(config.size)
    truth = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "generator": "radlens.training.phantom",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "format": fmt,
        "config": config.to_dict(),
        "classes": list(CLASSES),
        "no_finding": {"class_name": NO_FINDING, "class_id": NO_FINDING_ID},
        "box_convention": BOX_CONVENTION,
        "mask_rle": "row-major flat [start, length, ...] pairs over the size x size image",
        "pixel_spacing_mm": spacing,
        "imager_pixel_spacing_mm": imager,
        "images": [res["truth"] for res in results],
    }
    if gaze is not None:
        truth["gaze"] = {"schema_version": GAZE_SCHEMA_VERSION, "format": "images/<image_id>.gaze.npz (docs/gaze.md)",
                         "config": gaze.to_dict()}
    atomic_write_text(out / "truth.json", json.dumps(truth, separators=(",", ":")))

    counts: Counter[str] = Counter()
    for res in results:
        counts.update(res["classes"])
    return DatasetSummary(
        out_dir=out,
        n=n,
        class_counts={c: counts.get(c, 0) for c in CLASSES},
        normals=sum(1 for res in results if not res["classes"]),
        shortcuts=sum(1 for res in results if res["shortcut"]),
        seconds=time.perf_counter() - start,
    )
