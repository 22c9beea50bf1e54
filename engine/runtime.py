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


@functools.cache
def _malloc_trim() -> object | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, Windows, musl)."""
    import ctypes
    import ctypes.util

    if platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Give memory that was freed back to the operating system (glibc's ``malloc_trim(0)``).

    Full-size arrays of a large radiograph are tens of MB each; once freed, glibc keeps much of
    that memory inside its heaps (arrays under its dynamic mmap threshold), so a process that
    works image after image, class after class, grows although its live data does not. Batch
    paths (``radlens explain``) call this between classes and images. Returns whether it ran.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # type: ignore[operator]
    return True
