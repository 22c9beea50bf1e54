"""``radlens view PATH --screenshot FILE`` in a subprocess: exit 0 and a non-blank PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def test_screenshot_mode_writes_the_window(tmp_path, demo_copy):
    out = tmp_path / "shot.png"
    settings = tmp_path / "settings.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RADLENS_SETTINGS": str(settings)}
    proc = subprocess.run(
        [sys.executable, "-m", "viewer.cli", "view", str(demo_copy), "--screenshot", str(out), "--size", "1200x800"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    assert pixels.shape == (800, 1200, 3)
    assert pixels.std() > 20  # not blank
    # the canvas shows the image (grey levels) and the overlay adds colour somewhere
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    assert (spread > 60).mean() > 0.001
    assert not settings.exists()  # the user's settings are left alone
    assert list(demo_copy.glob("*.radlens.json")) == []  # nothing edited, nothing written
