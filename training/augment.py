"""Training augmentation on tensors (torchvision.transforms.v2) that respects laterality.

No horizontal flip unless the config asks for one: a flipped chest film puts the heart on the
wrong side and turns an "L" marker into a mirrored one. Geometry: small rotations, shifts and
zooms (black fill, like letterbox padding); intensity: brightness and contrast jitter. All run
on ``(1, H, W)`` float tensors in [0, 1] before normalisation.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from training.config import AugmentConfig


def build_augment(cfg: AugmentConfig) -> v2.Transform | None:
    """The training transform of ``cfg``, or None when augmentation is off."""
    if not cfg.enabled:
        return None
    steps: list[v2.Transform] = []
    if cfg.rotate_deg or cfg.translate or tuple(cfg.scale) != (1.0, 1.0):
        steps.append(v2.RandomAffine(
            degrees=cfg.rotate_deg, translate=(cfg.translate, cfg.translate),
            scale=(cfg.scale[0], cfg.scale[1]), interpolation=v2.InterpolationMode.BILINEAR, fill=0.0,
        ))
    if cfg.brightness or cfg.contrast:
        steps.append(v2.ColorJitter(brightness=cfg.brightness or None, contrast=cfg.contrast or None))
    if cfg.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=cfg.hflip))
    if not steps:
        return None
    return v2.Compose(steps)


def apply_augment(transform: v2.Transform | None, image: torch.Tensor) -> torch.Tensor:
    """Apply ``transform`` to one ``(1, H, W)`` float image (identity when None)."""
    return image if transform is None else transform(image).clamp(0.0, 1.0)
