"""A known-answer model for the perturbation tests (imported by the test files; not a test)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest

SIZE = 32
REGION = (slice(4, 12), slice(18, 28))  # rows, cols the first class looks at
OTHER = (slice(20, 30), slice(2, 10))  # rows, cols the second class looks at


class RegionNet(nn.Module):
    """Class 0's logit is ``gain * mean(x in REGION)``, class 1's ``gain * mean(x in OTHER)``.

    ``x`` is the normalised input (mean 0.5, sd 0.25), so a region at display value v contributes
    ``(v - 0.5) / 0.25``. Nothing outside the two regions matters.
    """

    def __init__(self, gain: float = 2.0) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(float(gain)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x[:, 0, REGION[0], REGION[1]].mean(dim=(1, 2))
        b = x[:, 0, OTHER[0], OTHER[1]].mean(dim=(1, 2))
        return self.gain * torch.stack([a, b], dim=1)


def region_model(task: str = "multilabel", resize: str = "stretch", size: int = SIZE) -> LoadedModel:
    manifest = ModelManifest(name="region-net", version="1", architecture="region", class_names=("A", "B"),
                             task=task, in_channels=1, input_size=(size, size), resize=resize,
                             mean=(0.5,), std=(0.25,))
    return LoadedModel.from_module(RegionNet(), manifest)


def region_image(seed: int = 0) -> np.ndarray:
    """Background ~0.3, both regions bright (0.9) so both classes score high."""
    rng = np.random.default_rng(seed)
    img = np.clip(0.3 + 0.05 * rng.standard_normal((SIZE, SIZE)), 0, 1).astype(np.float32)
    img[REGION] = 0.9
    img[OTHER] = 0.9
    return img


def region_map() -> np.ndarray:
    """A map that is high exactly in REGION (with small distinct values elsewhere)."""
    rel = np.linspace(0.0, 0.1, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    rel[REGION] = 1.0
    return rel


def sigmoid(v: float) -> float:
    return float(1.0 / (1.0 + np.exp(-v)))
