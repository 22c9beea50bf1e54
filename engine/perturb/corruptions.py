"""Global corruptions at severities 1-5, after ImageNet-C (Hendrycks & Dietterich 2019).

Images are float in [0, 1]; the result is clipped to [0, 1]. Severity tables (ImageNet-C's
values, for 224 x 224 inputs; grayscale images use the same numbers):

==============  =======================================  ==========================================
corruption      parameter per severity 1..5              operation
==============  =======================================  ==========================================
gaussian_noise  σ = 0.08, 0.12, 0.18, 0.26, 0.38         x + N(0, σ²)
speckle_noise   σ = 0.15, 0.20, 0.35, 0.45, 0.60         x + x · N(0, σ²)
motion_blur     (radius, σ) = (10, 3), (15, 5), (15, 8),  line kernel of ``radius`` px, one-sided
                (15, 12), (20, 15)                        Gaussian taps σ, seeded angle in ±45°
contrast        c = 0.4, 0.3, 0.2, 0.1, 0.05             (x − mean) · c + mean
brightness      Δ = 0.1, 0.2, 0.3, 0.4, 0.5              x + Δ (ImageNet-C adds Δ to HSV value;
                                                          on grayscale that is the pixel value)
==============  =======================================  ==========================================

Apply them at model resolution (the robustness run does): per-pixel noise added to a 2048 x 2048
image and then shrunk to 224 x 224 would be averaged away (σ / ~9). Motion-blur lengths are
scaled by ``max(H, W) / 224`` when applied to another size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import RadLensError
from engine.perturb.filters import convolve2d, motion_kernel

SEVERITIES = (1, 2, 3, 4, 5)
TABLES: dict[str, tuple] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
}
CORRUPTIONS = tuple(TABLES)


def _gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, c, x.shape)


def _speckle_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + x * rng.normal(0.0, c, x.shape)


def _motion_blur(x: np.ndarray, c: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    scale = max(x.shape[:2]) / 224.0
    radius, sigma = c
    angle = float(rng.uniform(-45, 45))
    return convolve2d(x, motion_kernel(max(1, round(radius * scale)), sigma * scale, angle))


def _contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(0, 1), keepdims=True)
    return (x - mean) * c + mean


def _brightness(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + c


_FUNCS: dict[str, Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _gaussian_noise,
    "speckle_noise": _speckle_noise,
    "motion_blur": _motion_blur,
    "contrast": _contrast,
    "brightness": _brightness,
}


def corrupt(image: np.ndarray, corruption: str, severity: int, seed: int = 0) -> np.ndarray:
    """``image`` (float in [0, 1]) corrupted at ``severity`` 1-5 (0 returns a copy); float32 in [0, 1]."""
    if corruption not in _FUNCS:
        raise RadLensError(f"unknown corruption {corruption!r}.", fix=f"use one of {', '.join(CORRUPTIONS)}.")
    if int(severity) not in (0, *SEVERITIES):
        raise RadLensError(f"severity must be 0-5, not {severity!r}.")
    x = np.asarray(image, dtype=np.float64)
    if int(severity) == 0:
        return x.astype(np.float32)
    param = TABLES[corruption][int(severity) - 1]
    out = _FUNCS[corruption](x, param, np.random.default_rng(int(seed)))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def severity_table() -> list[dict[str, object]]:
    """The severity tables as rows (for documents and the panel)."""
    return [{"corruption": k, **{str(s): v for s, v in zip(SEVERITIES, t, strict=True)}} for k, t in TABLES.items()]
