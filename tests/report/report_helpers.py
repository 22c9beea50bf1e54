"""Helpers of the report tests: a deterministic report input, PDF text, page rendering, image comparison."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
DEMO_IMAGE = DEMO / "images" / "phantom_00000.dcm"
DEMO_CSV = DEMO / "train.csv"
DATA = Path(__file__).resolve().parent / "data"
FIXED_TIME = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
REPORT_CLASSES = ("Pneumothorax", "Cardiomegaly", "Pleural effusion")


def demo_annotations(image_id: str = "phantom_00000") -> Any:
    from engine.annotations import read_annotations

    return read_annotations(DEMO_CSV)[image_id]


def user_box(class_name: str = "Pneumothorax", box: tuple[float, float, float, float] = (80, 70, 230, 290)) -> Any:
    from engine.annotations import AnnotationSet, BoxAnnotation, Source

    return AnnotationSet(boxes=(BoxAnnotation(class_name, *box, annotator="me", source=Source.USER),))


def synthetic_result(image_shape: tuple[int, int], sha: str) -> Any:
    """A fixed explanation (a Gaussian blob over the right upper lung field) independent of any trained model."""
    from engine.explainers.result import ExplanationResult
    from engine.preprocess import InputGeometry

    yy, xx = np.mgrid[0:14, 0:14].astype(np.float32)
    blob = np.exp(-((xx - 4.0) ** 2 + (yy - 5.0) ** 2) / 6.0) * 3.0
    other = np.exp(-((xx - 9.0) ** 2 + (yy - 8.0) ** 2) / 10.0) * 1.5
    maps = np.stack([blob, other]).astype(np.float32)
    return ExplanationResult(
        method="gradcam", params={"fusion": "mean"}, layers=("layer4",), class_names=("Pneumothorax", "Cardiomegaly"),
        explained=("Pneumothorax", "Cardiomegaly"), logits=np.array([2.0, -1.0], np.float32),
        probabilities=np.array([0.880797, 0.268941], np.float32), thresholds=(0.5, 0.3), target="logit (pre-sigmoid)",
        normalisation="per_map", native_maps=maps,
        value_ranges={"Pneumothorax": (float(blob.min()), float(blob.max())),
                      "Cardiomegaly": (float(other.min()), float(other.max()))},
        geometry=InputGeometry.fit(image_shape, (224, 224), "stretch"),
        model={"name": "Synthetic", "version": "1", "weights_sha256": sha}, versions={"python": "3"},
        device="cpu", precision="fp32", elapsed_s=0.01, created="2026-01-02T03:04:00Z",
    )


def synthetic_input(**kw: Any) -> Any:
    """A report input that does not depend on the bundled model (for the image regression)."""
    from engine.io import load_image
    from engine.report import ModelCard, build_report_input

    image = load_image(DEMO_IMAGE)
    card = ModelCard(name="Synthetic", version="1", architecture="resnet18", task="multilabel",
                     weights_sha256="ab" * 32, training_data=(("Training images", "100"),),
                     metrics=(("Macro AUC", "0.900"),))
    result = synthetic_result(image.shape, card.weights_sha256)
    kw.setdefault("ground_truth", demo_annotations())
    kw.setdefault("user_boxes", user_box())
    kw.setdefault("created", FIXED_TIME)
    return build_report_input(image, card, result, ["Pneumothorax"], **kw)


def pdf_pages_text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(path)).pages]


def flat(text: str) -> str:
    """Text with runs of white space as single spaces (table cells break lines anywhere)."""
    return " ".join(text.split())


def render_page(pdf: Path, page: int, dpi: int, out_dir: Path) -> np.ndarray:
    """Page ``page`` (1-based) of ``pdf`` as an RGB array, rendered by poppler's pdftoppm."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        pytest.fail("pdftoppm is not installed: install poppler-utils (apt-get install poppler-utils; .ci/run does) "
                    "to run the report rendering tests.")
    stem = out_dir / f"page{page}-{dpi}"
    subprocess.run([exe, "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile", str(pdf), str(stem)],
                   check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(f"{stem}.png").convert("RGB"))


def block_means(gray: np.ndarray, block: int) -> np.ndarray:
    """Mean of each ``block`` x ``block`` tile (the image is cropped to whole tiles)."""
    h, w = (gray.shape[0] // block) * block, (gray.shape[1] // block) * block
    return gray[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def page_difference(a: np.ndarray, b: np.ndarray, block: int = 8) -> tuple[float, float]:
    """(largest, mean) absolute difference of 8 x 8 tile means of two same-size page renders (grayscale 0-255).

    Tiles average out glyph shapes, hinting and anti-aliasing; a missing picture or a moved
    section changes whole tiles by tens to hundreds of grey levels.
    """
    if a.shape != b.shape:
        return 255.0, 255.0
    ga, gb = (np.asarray(x, np.float64).mean(axis=2) for x in (a, b))
    d = np.abs(block_means(ga, block) - block_means(gb, block))
    return float(d.max()), float(d.mean())


def make_perturbation(model: Any, classes: tuple[str, ...], cls: str = "Pneumothorax") -> dict[str, Any]:
    """A perturb.json dict in the team schema with known numbers (the report only renders it)."""
    f = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5]
    deletion = [0.99, 0.80, 0.41, 0.22, 0.10, 0.03]
    insertion = [0.05, 0.30, 0.62, 0.85, 0.93, 0.98]
    return _perturbation(model, cls, f, deletion, insertion)


def make_fine_perturbation(model: Any, cls: str = "Pneumothorax") -> dict[str, Any]:
    """As :func:`make_perturbation` on the fine grid ``radlens perturb`` uses by default (21 fractions),
    with Δp of class k at fraction f = (k + 1) * f / 10, so every printed cell is known."""
    from engine.perturb.curves import default_fractions

    f = default_fractions()
    deletion = [round(0.99 * (1 - x) ** 3, 4) for x in f]
    insertion = [round(0.05 + 0.94 * (1 - (1 - x) ** 3), 4) for x in f]
    p = _perturbation(model, cls, f, deletion, insertion)
    n = len(f)
    p["random"] |= {"deletion_mean": list(np.linspace(0.99, 0.6, n)), "deletion_sd": [0.02] * n,
                    "insertion_mean": list(np.linspace(0.05, 0.5, n)), "insertion_sd": [0.03] * n}
    p["delta_p"] = {"fractions": f, "by_class": {c: [(k + 1) * x / 10 for x in f]
                                                 for k, c in enumerate(model.class_names)}}
    return p


def _perturbation(model: Any, cls: str, f: list[float], deletion: list[float], insertion: list[float]) -> dict:
    return {
        "format": "radlens.perturbation", "schema_version": 1, "app": {"name": "radlens", "version": "0.1.0"},
        "model": {"name": model.name, "version": model.version, "sha256": model.weights_sha256},
        "image": str(DEMO_IMAGE), "method": "gradcam", "layer": "layer4", "class": cls, "mode": "blur",
        "mode_params": {"ksize": 21}, "order": "morf", "resolution": "model", "seed": 7,
        "classes": list(model.class_names), "original": {c: 0.5 for c in model.class_names} | {cls: 0.99},
        "fractions": f, "deletion": {"fractions": f, "scores": deletion},
        "insertion": {"fractions": f, "scores": insertion},
        "deletion_auc": 0.1734, "insertion_auc": 0.8127, "aopc": 0.6421,
        "random": {"seeds": [1, 2, 3], "deletion_mean": list(np.linspace(0.99, 0.6, 6)), "deletion_sd": [0.02] * 6,
                   "insertion_mean": list(np.linspace(0.05, 0.5, 6)), "insertion_sd": [0.03] * 6,
                   "deletion_auc_mean": 0.7712, "deletion_auc_sd": 0.0311,
                   "insertion_auc_mean": 0.2804, "insertion_auc_sd": 0.0207},
        "delta_p": {"fractions": [0.02, 0.05, 0.1, 0.2, 0.5],
                    "by_class": {c: [0.011 * (i + 1), -0.123, 0.25, 0.3, 0.456 + i / 100] for i, c in
                                 enumerate(model.class_names)}},
    }
