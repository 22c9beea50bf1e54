"""The pieces of one epoch: the cached dataset, the schedule, a training pass, a prediction pass."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from engine.models.manifest import ModelManifest
from training.augment import apply_augment
from training.cache import normalise_batch
from training.config import OptimConfig


class CachedDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images from the uint8 cache as ``(1, H, W)`` floats in [0, 1], augmented, with labels.

    Args:
        pixels: ``(N, H, W)`` uint8 cache of every image.
        targets: ``(N, C)`` float labels (multi-label) or ``(N,)`` int64 class indices.
        indices: The images of this split.
        transform: Augmentation or None.
    """

    def __init__(self, pixels: np.ndarray, targets: torch.Tensor, indices: Sequence[int],
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.pixels = pixels
        self.targets = targets
        self.indices = list(indices)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.indices[item]
        image = torch.from_numpy(self.pixels[i]).float().div_(255.0)[None]
        if self.transform is not None:
            image = apply_augment(self.transform, image)
        return image, self.targets[i]


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum, Nesterov off) as configured."""
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total: int, warmup: int, cfg: OptimConfig) -> float:
    """Learning-rate factor at ``step`` of ``total``: linear warm-up, then cosine/linear/constant."""
    if warmup > 0 and step < warmup:
        return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * step / warmup
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    end = cfg.final_lr_factor
    if cfg.schedule == "cosine":
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 + (end - 1.0) * progress


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int,
                    epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-batch :class:`LambdaLR` (its state dict holds only numbers)."""
    total = max(1, steps_per_epoch * epochs)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        return lr_factor(step, total, warmup, cfg)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``train.amp``: float16 on CUDA, bfloat16 on CPUs with AVX-512 BF16, else None.

    ``auto`` and ``on`` behave alike except that ``on`` also uses bfloat16 on a CPU without
    native support (slow, for testing); ``off`` never autocasts.
    """
    if mode == "off":
        return None
    if device.type == "cuda":
        return torch.float16
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    native = bool(probe()) if callable(probe) else False
    return torch.bfloat16 if (native or mode == "on") else None


def autocast_for(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """Autocast to ``dtype`` on ``device``; a null context when ``dtype`` is None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train_one_epoch(
    model: nn.Module, loader: DataLoader, criterion: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, manifest: ModelManifest,
    device: torch.device, amp: torch.dtype | None, *, show_progress: bool, desc: str,
) -> float:
    """One pass over ``loader``; returns the mean training loss."""
    from tqdm import tqdm

    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not show_progress, file=sys.stderr)
    for images, targets in bar:
        x = normalise_batch(images.to(device, non_blocking=True), manifest)
        y = targets.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, amp):
            loss = criterion(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += float(loss.detach()) * x.shape[0]
        count += x.shape[0]
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    return total / max(count, 1)


@torch.no_grad()
def predict_logits(model: nn.Module, pixels: np.ndarray, indices: Sequence[int], manifest: ModelManifest,
                   device: torch.device, batch_size: int, amp: torch.dtype | None = None) -> torch.Tensor:
    """Logits ``(len(indices), C)`` (float32, CPU) of cached images, no augmentation, eval mode."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        for start in range(0, len(indices), batch_size):
            idx = list(indices[start:start + batch_size])
            u8 = torch.from_numpy(pixels[idx])[:, None].to(device)
            with autocast_for(device, amp):
                outs.append(model(normalise_batch(u8, manifest)).float().cpu())
    finally:
        model.train(was_training)
    if not outs:
        return torch.zeros((0, manifest.num_classes))
    return torch.cat(outs)
