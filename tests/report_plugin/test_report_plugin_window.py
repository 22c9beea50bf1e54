"""The exported report shows the image as the canvas does: its window/level and inversion."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from engine.io import Window, load_image
from plugins.report_export.export import shown_image

DEMO_IMAGE = Path(__file__).resolve().parents[2] / "resources" / "demo" / "images" / "phantom_00000.dcm"


def test_the_report_image_has_the_window_and_inversion_on_screen():
    image = load_image(DEMO_IMAGE)
    narrow = Window(image.window.center, image.window.width / 4, "LINEAR", "user", "user")
    shown = shown_image(SimpleNamespace(image=image, window=narrow, invert=True))
    expected = 1.0 - image.with_voi(narrow).display
    np.testing.assert_allclose(shown.display, expected, atol=1e-6)
    assert not np.allclose(shown.display, image.display, atol=0.05)
    assert shown.raw is image.raw and shown.path == image.path  # only the presentation changed


def test_without_a_window_in_the_state_the_file_window_is_used():
    image = load_image(DEMO_IMAGE)
    assert shown_image(SimpleNamespace(image=image, window=None, invert=False)) is image
    assert shown_image(SimpleNamespace(image=image, window=image.window, invert=False)) is image
