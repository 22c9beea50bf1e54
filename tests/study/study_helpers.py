"""Constants and helpers of the study tests (import from here, not from the conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
N_IMAGES = 10
CORRUPT = "images/phantom_00005.png"


def study_yaml(model: Path, batch_size: int = 2) -> str:
    """A small study: Grad-CAM at the bundle's default layer and SmoothGrad with 2 samples."""
    return f"""
name: test-study
models: ["{model}"]
methods:
  - name: gradcam
  - name: smoothgrad
    params: {{n: 2, noise: 0.1}}
thresholds:
  top_fraction: [0.02, 0.05, 0.1]
  fraction_of_max: [0.5]
  otsu: true
localisation:
  pointing_tolerance_px: 8
run:
  batch_size: {batch_size}
"""


def tables_of(out: Path) -> dict[str, bytes]:
    """Every table CSV and failures.csv of a study folder, by name."""
    files = {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.csv"))}
    files["failures.csv"] = (out / "failures.csv").read_bytes()
    return files


def blocks_yaml(model: Path, batch_size: int = 2) -> str:
    """A small robustness + sanity study: Grad-CAM++ at the bundle's layer, 2 corruptions, 2 cascade steps."""
    return f"""
name: blocks-study
models: ["{model}"]
methods:
  - name: gradcampp
metrics: [robustness, sanity]
robustness:
  corruptions: [contrast, gaussian_noise]
  severities: [5]
  seed: 1
sanity:
  max_steps: 2
  seed: 3
run:
  batch_size: {batch_size}
"""


def tiny_resnet(n_classes: int = 3, seed: int = 0) -> Any:
    """An in-memory ResNet-shaped network (conv1, bn1, layer1.0-1, layer2.0-1, fc; 4 channels) as a LoadedModel.

    Names follow torchvision's ResNet so the cascade and layer names read like a ResNet-18's, at a
    fraction of the cost.
    """
    import torch
    from torch import nn

    from engine.models.bundle import LoadedModel
    from engine.models.manifest import ModelManifest

    class Basic(nn.Module):
        def __init__(self, ch: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch)
            self.conv2, self.bn2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(x + self.bn2(self.conv2(y)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, 2, 1, bias=False), nn.BatchNorm2d(4)
            self.layer1 = nn.Sequential(Basic(4), Basic(4))
            self.layer2 = nn.Sequential(Basic(4), Basic(4))
            self.fc = nn.Linear(4, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
            return self.fc(x.mean(dim=(2, 3)))

    torch.manual_seed(seed)
    net = Net().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    manifest = ModelManifest(name="tiny-resnet", version="0.1", architecture="resnet18",
                             class_names=tuple("abcdefgh"[:n_classes]), input_size=(32, 32), in_channels=1,
                             mean=(0.5,), std=(0.25,))
    return LoadedModel(module=net, manifest=manifest, weights_sha256="0" * 64)


def mobilenet_bundle(folder: Path, name: str) -> Path:
    """A second phantom-class bundle (MobileNetV3-small, one input channel, 64 px, seed 1) for the
    tests that run two models side by side."""
    import torch
    import torchvision

    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest
    from training.phantom import CLASSES

    torch.manual_seed(1)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    return save_bundle(folder, net, ModelManifest(
        name=name, version="0.1", architecture="mobilenet_v3_small", class_names=tuple(CLASSES),
        input_size=(64, 64), in_channels=1, mean=(0.5,), std=(0.25,)))
