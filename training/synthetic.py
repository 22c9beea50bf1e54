"""Tiny synthetic training sets in the real on-disk formats (tests and smoke runs).

Each class has a fixed bright square in its own place, so a small network learns it in an
epoch or two and Grad-CAM has somewhere to point. Files are written like the real ones: a
VinBigData ``train.csv`` (three readers per image, "No finding" rows with empty coordinates),
a SIIM ``train-rle.csv`` (relative, column-major RLE, ``-1`` for none) or an NIH
``BBox_List_2017.csv`` (``Image Index,Finding Label,Bbox [x,y,w,h],,,``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from engine.annotations import encode_siim_rle
from engine.io.synthetic import write_dicom

CLASSES: tuple[str, ...] = ("Nodule/Mass", "Pleural effusion", "Pneumothorax", "Cardiomegaly", "Consolidation")
VINBIG_IDS = {"Nodule/Mass": 8, "Pleural effusion": 10, "Pneumothorax": 12, "Cardiomegaly": 3, "Consolidation": 4}


def class_box(c: int, size: int) -> tuple[int, int, int, int]:
    """Where class ``c``'s square sits: ``(x0, y0, x1, y1)`` pixel edges."""
    cells = [(0.15, 0.15), (0.6, 0.15), (0.15, 0.6), (0.6, 0.6), (0.4, 0.4)]
    fx, fy = cells[c % len(cells)]
    side = size // 4
    x0, y0 = int(fx * size), int(fy * size)
    return x0, y0, x0 + side, y0 + side


def synthetic_image(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 image with noise and one square per positive class."""
    img = rng.normal(60, 12, (size, size))
    for c in np.flatnonzero(labels):
        x0, y0, x1, y1 = class_box(int(c), size)
        img[y0:y1, x0:x1] += 140
    return np.clip(img, 0, 255).astype(np.uint8)


def random_labels(n: int, n_classes: int, rng: np.random.Generator, p: float = 0.35) -> np.ndarray:
    """``(n, n_classes)`` 0/1 labels, every class positive at least twice."""
    labels = (rng.random((n, n_classes)) < p).astype(np.int64)
    for c in range(n_classes):
        labels[(2 * c) % n, c] = 1
        labels[(2 * c + 1) % n, c] = 1
    return labels


def write_vinbigdata_set(out: str | Path, n: int = 40, size: int = 64, *, seed: int = 0, fmt: str = "png",
                         images_per_patient: int = 1, classes: tuple[str, ...] = CLASSES) -> np.ndarray:
    """Write ``images/`` and a VinBigData ``train.csv``; DICOMs carry PatientID.

    Returns:
        The ``(n, len(classes))`` labels written (image ``i`` is ``img{i:03d}``).
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = random_labels(n, len(classes), rng)
    rows = []
    for i in range(n):
        image_id = f"img{i:03d}"
        pixels = synthetic_image(labels[i], size, rng)
        if fmt == "dicom":
            write_dicom(out / "images" / f"{image_id}.dcm", pixels,
                        PatientID=f"P{i // images_per_patient:03d}")
        else:
            Image.fromarray(pixels).save(out / "images" / f"{image_id}.png")
        for reader in ("R1", "R2", "R3"):
            positives = np.flatnonzero(labels[i])
            if not positives.size:
                rows.append([image_id, "No finding", 14, reader, "", "", "", ""])
            for c in positives:
                x0, y0, x1, y1 = class_box(int(c), size)
                jitter = int(rng.integers(-1, 2))
                rows.append([image_id, classes[c], VINBIG_IDS.get(classes[c], c), reader,
                             x0 + jitter, y0, x1 + jitter, y1])
    with (out / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"])
        writer.writerows(rows)
    return labels


def write_siim_set(out: str | Path, n: int = 12, size: int = 64, *, seed: int = 0) -> np.ndarray:
    """Write ``images/*.png`` and ``train-rle.csv`` (SIIM style; RLE relative to a 1024 image).

    Returns:
        ``(n,)`` 0/1 Pneumothorax labels.
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n)])
    lines = ["ImageId, EncodedPixels"]
    for i in range(n):
        image_id = f"1.2.276.0.7230010.3.1.4.8323329.{1000 + i}"
        one = np.zeros(len(CLASSES), np.int64)
        one[2] = labels[i]
        Image.fromarray(synthetic_image(one, size, rng)).save(out / "images" / f"{image_id}.png")
        if labels[i]:
            mask = np.zeros((1024, 1024), bool)
            mask[100:200, 300:380] = True
            lines.append(f"{image_id}, {encode_siim_rle(mask)}")
            lines.append(f"{image_id}, {encode_siim_rle(np.roll(mask, 400, axis=0))}")
        else:
            lines.append(f"{image_id}, -1")
    (out / "train-rle.csv").write_text("\n".join(lines) + "\n")
    return labels


def write_nih_set(out: str | Path, n: int = 10, size: int = 64, *, seed: int = 0,
                  with_labels_csv: bool = True) -> dict[str, set[str]]:
    """Write ``images/*.png``, ``BBox_List_2017.csv`` and (optionally) ``Data_Entry_2017.csv``.

    Images of patient ``k`` are ``{k:08d}_{j:03d}.png``; boxes exist for even images only,
    the labels CSV also names a box-less finding for image 1.

    Returns:
        Image file name -> expected positive classes.
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    expected: dict[str, set[str]] = {}
    bbox_rows = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    entry_rows = [["Image Index", "Finding Labels", "Follow-up #", "Patient ID"]]
    for i in range(n):
        name = f"{i // 2:08d}_{i % 2:03d}.png"
        one = np.zeros(len(CLASSES), np.int64)
        found: set[str] = set()
        if i % 2 == 0:
            one[3] = 1
            found.add("Cardiomegaly")
            x0, y0, x1, y1 = class_box(3, size)
            bbox_rows.append(f"{name},Cardiomegaly,{x0}.0,{y0}.0,{x1 - x0}.0,{y1 - y0}.0,,,")
        if i == 1 and with_labels_csv:
            found.add("Effusion")
        Image.fromarray(synthetic_image(one, size, rng)).save(out / "images" / name)
        entry_rows.append([name, "|".join(sorted(found)) or "No Finding", str(i % 2), str(i // 2)])
        expected[name] = found
    (out / "BBox_List_2017.csv").write_text("\n".join(bbox_rows) + "\n")
    if with_labels_csv:
        with (out / "Data_Entry_2017.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(entry_rows)
    return expected
