"""Small models and manifests shared by the test folders (import from here, not from a conftest)."""

from __future__ import annotations

import torch
from torch import nn

from engine.models.manifest import ModelManifest


class TinyNet(nn.Module):
    """A small CNN with a named feature layer, GAP and a linear head."""

    def __init__(self, classes: int = 3, channels: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1))
        self.act = nn.ReLU()
        self.features = nn.Conv2d(8, channels, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu(self.features(self.act(self.stem(x))))
        return self.fc(self.pool(a).flatten(1))


def make_manifest(arch: str, classes: int, size: int, **kw: object) -> ModelManifest:
    return ModelManifest(
        name=f"test-{arch}", version="0.0.1", architecture=arch,
        class_names=tuple(f"class{i}" for i in range(classes)), input_size=(size, size), **kw,  # type: ignore[arg-type]
    )
