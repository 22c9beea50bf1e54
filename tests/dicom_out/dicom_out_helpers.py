"""Fixtures of the DICOM export tests: a small bundle whose classes are the demo's, one export."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
DEMO_IMAGE = DEMO / "images" / "phantom_00002.dcm"  # GT boxes of Cardiomegaly among others
CLASSES = ("Cardiomegaly", "Pleural effusion", "Pneumothorax")
FIXED_TIME = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
#: a minimal PDF (one empty page); the real report's bytes are encapsulated in the CLI test
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-18 bundle (64 px input) with three of the demo's classes."""
    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=len(CLASSES)).eval()
    folder = tmp_path_factory.mktemp("bundle") / "small"
    save_bundle(folder, net, ModelManifest(name="dicom-test", version="1.2", architecture="resnet18",
                                           class_names=CLASSES, input_size=(64, 64)))
    return folder


@dataclass(frozen=True)
class Export:
    image: Any
    result: Any
    localisation: dict[str, Any]
    user: Any
    gt: Any
    paths: list[Path]

    def kind(self, kind: str) -> list[Path]:
        """The files of one object kind (``sr``, ``pm``, ``sc``, ``pdf``)."""
        return [p for p in self.paths if re.search(rf"\.{kind}(\.\d+)?\.dcm$", p.name)]


def user_boxes() -> Any:
    from engine.annotations import AnnotationSet, BoxAnnotation, Source

    return AnnotationSet((
        BoxAnnotation("Cardiomegaly", 150.0, 210.5, 331.0, 402.25, annotator="Jane Reader", source=Source.USER),
        BoxAnnotation("Pneumothorax", 20.0, 30.0, 140.0, 260.0, annotator="Jane Reader", source=Source.USER),
    ), image_id="phantom_00002")


def explain_demo(bundle: Path) -> tuple[Any, Any, dict[str, Any], Any, Any]:
    import engine
    from engine.analysis import localise
    from engine.annotations import read_annotations
    from engine.io import load_image

    image = load_image(DEMO_IMAGE)
    model = engine.load_model(bundle)
    result = engine.explain(model, image, "gradcam")
    gt = read_annotations(DEMO / "train.csv")["phantom_00002"]
    user = user_boxes()
    loc = localise(result, "top:0.05", gt.merged(user))
    return image, result, loc, user, gt


@pytest.fixture(scope="session")
def export(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Export:
    from engine.dicom_out import write_results

    image, result, loc, user, gt = explain_demo(small_bundle)
    out = tmp_path_factory.mktemp("dicom-out")
    paths = write_results(out, image, result, localisation=loc, user_boxes=user, annotations=gt.merged(user),
                          pdf=PDF, now=FIXED_TIME)
    return Export(image, result, loc, user, gt, paths)
