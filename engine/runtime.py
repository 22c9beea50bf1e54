"""Device selection and library versions recorded with every result."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

import torch

from engine.errors import RadLensError
from engine.version import version


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda"``/``"cuda:N"`` into a device that exists here."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RadLensError(
            f"device '{device}' was asked for but no CUDA GPU is available.",
            fix="use --device cpu or --device auto.",
        )
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise RadLensError(f"unknown device '{device}'.", fix="use auto, cpu or cuda.") from exc


def library_versions() -> dict[str, str]:
    """Versions of RadLens and of the libraries that shape its results."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version(), "radlens": version()}
    for dist in ("torch", "torchvision", "numpy", "scikit-image", "pydicom"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return tuple(versions.items())
