"""Decode every image once into an in-memory uint8 cache at the model's input size.

Decoding a DICOM each epoch is far too slow on a 2-core machine, so each image goes through
the engine's own pipeline once: :func:`engine.io.load_image` (Modality LUT -> VOI ->
presentation, the ``display`` array) and :func:`engine.preprocess.to_model_input` with the
bundle's size and resize policy but one channel and no normalisation. The result is stored as
uint8 grayscale ``(N, H, W)``; :func:`normalise_batch` later repeats it to ``in_channels`` and
applies the bundle's mean/std, exactly as ``to_model_input`` does at inference (the only
difference is the 8-bit quantisation of the resized image, at most 1/510 per pixel).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.io import load_image
from engine.models.manifest import ModelManifest
from engine.preprocess import to_model_input

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageCache:
    """Decoded images at model resolution.

    Attributes:
        pixels: ``(N, H, W)`` uint8 grayscale in [0, 255] (the display image, resized).
        patient_ids: DICOM PatientID of each image ("" when the file has none).
        image_sizes: Original ``(height, width)`` of each image.
    """

    pixels: np.ndarray
    patient_ids: tuple[str, ...]
    image_sizes: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)


def unit_manifest(manifest: ModelManifest) -> ModelManifest:
    """The manifest's geometry with one channel and identity normalisation."""
    return dataclasses.replace(manifest, in_channels=1, mean=(0.0,), std=(1.0,))


def decode_one(path: Path, manifest: ModelManifest) -> tuple[np.ndarray, str, tuple[int, int]]:
    """Decode one file into ``(uint8 (H, W) at model size, patient id, original size)``."""
    image = load_image(path)
    x, _geometry, _scaling = to_model_input(image.display, unit_manifest(manifest))
    u8 = (x[0, 0].clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).numpy()
    pid = str(getattr(image.metadata, "patient_id", "") or "")
    h, w = np.asarray(image.display).shape[:2]
    return u8, pid, (int(h), int(w))


def build_cache(
    paths: Sequence[Path], manifest: ModelManifest, *, workers: int = 1, progress: ProgressFn | None = None
) -> ImageCache:
    """Decode ``paths`` into an :class:`ImageCache` (threads; order preserved).

    Raises:
        ImageReadError: A file cannot be decoded (from the engine; the message names the file).
    """
    hm, wm = manifest.input_size
    pixels = np.zeros((len(paths), hm, wm), dtype=np.uint8)
    pids: list[str] = [""] * len(paths)
    sizes: list[tuple[int, int]] = [(0, 0)] * len(paths)

    def job(i: int) -> int:
        pixels[i], pids[i], sizes[i] = decode_one(paths[i], manifest)
        return i

    done = 0
    if workers <= 1:
        for i in range(len(paths)):
            job(i)
            done += 1
            if progress:
                progress(done, len(paths))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(job, range(len(paths))):
                done += 1
                if progress:
                    progress(done, len(paths))
    return ImageCache(pixels, tuple(pids), tuple(sizes))


def normalise_batch(u8: torch.Tensor, manifest: ModelManifest) -> torch.Tensor:
    """uint8 or [0, 1] float ``(N, 1, H, W)`` -> the model input ``(N, C, H, W)`` (as ``to_model_input``)."""
    x = u8.float() / 255.0 if u8.dtype == torch.uint8 else u8.float()
    x = x.expand(-1, manifest.in_channels, -1, -1)
    mean = torch.tensor(manifest.mean, dtype=torch.float32, device=x.device)[None, :, None, None]
    std = torch.tensor(manifest.std, dtype=torch.float32, device=x.device)[None, :, None, None]
    return (x - mean) / std
