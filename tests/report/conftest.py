"""Fixtures of the report tests: the default model, the demo study, one real report written once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_helpers import DEMO_IMAGE, FIXED_TIME, REPORT_CLASSES, demo_annotations, make_perturbation, user_box


@pytest.fixture(scope="session")
def default_model() -> Any:
    from engine import load_model

    return load_model("default")


@pytest.fixture(scope="session")
def demo_image() -> Any:
    from engine.io import load_image

    return load_image(DEMO_IMAGE)


@pytest.fixture(scope="session")
def demo_result(default_model: Any, demo_image: Any) -> Any:
    import engine

    return engine.explain(default_model, demo_image, "gradcam", classes=list(REPORT_CLASSES))


@pytest.fixture(scope="session")
def real_report(tmp_path_factory: pytest.TempPathFactory, default_model: Any, demo_image: Any,
                demo_result: Any) -> tuple[Path, Any]:
    """A report from the default model and the demo study: 3 classes, GT, a user box, a perturbation run."""
    from engine.report import build_report_input, write_report

    inp = build_report_input(
        demo_image, default_model, demo_result, list(REPORT_CLASSES), threshold="top:0.05",
        ground_truth=demo_annotations(), user_boxes=user_box(),
        perturbation=make_perturbation(default_model, REPORT_CLASSES), created=FIXED_TIME,
    )
    path = tmp_path_factory.mktemp("report") / "demo.pdf"
    write_report(inp, path)
    return path, inp
