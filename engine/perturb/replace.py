"""Replacement modes: what a replaced pixel becomes.

Every mode except inpainting defines a *fill image* of the same shape as the image, computed once
(it does not depend on which pixels go); a perturbed image is ``where(mask, fill, image)``, so
exactly the masked pixels change and a pixel's replacement value is the same at every fraction.
Inpainting depends on the mask and is computed per mask (scikit-image's biharmonic inpainting:
about 0.05-0.15 s per 224 x 224 mask, seconds at 2048 x 2048 — run it at model resolution).

Modes and their parameters (defaults in brackets):

* ``mean``: the image's mean (per channel, over the image content).
* ``dataset_mean``: a given ``value`` (a number, or one per channel) in [0, 1] display units.
* ``zero``: 0 (black).
* ``blur``: Gaussian blur of the image, ``ksize`` [11] and/or ``sigma`` (OpenCV's rule links them).
* ``gaussian_noise``: seeded N(``mean`` [image mean], ``sigma`` [image sd]) clipped to [0, 1].
* ``uniform_noise``: seeded U(``low`` [0], ``high`` [1]).
* ``inpaint``: biharmonic inpainting from the unreplaced content pixels (all replaced: their mean).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import RadLensError
from engine.perturb.filters import gaussian_blur, sigma_for_kernel

MODES = ("mean", "dataset_mean", "zero", "blur", "gaussian_noise", "uniform_noise", "inpaint")
_PARAMS: dict[str, dict[str, Any]] = {
    "mean": {},
    "dataset_mean": {"value": None},
    "zero": {},
    "blur": {"ksize": None, "sigma": None},
    "gaussian_noise": {"mean": None, "sigma": None},
    "uniform_noise": {"low": 0.0, "high": 1.0},
    "inpaint": {},
}


@dataclass(frozen=True)
class Replacement:
    """A replacement mode with its resolved parameters (see the module docstring).

    Build one with :meth:`make`, which validates names and fills defaults.
    """

    mode: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, mode: str, **params: Any) -> Replacement:
        key = str(mode).lower().replace("-", "_")
        if key not in MODES:
            raise RadLensError(f"unknown replacement mode {mode!r}.", fix=f"use one of {', '.join(MODES)}.")
        known = _PARAMS[key]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise RadLensError(f"replacement mode {key!r} has no parameter(s) {unknown}; "
                               f"valid: {sorted(known) or 'none'}.")
        p = {**known, **{k: v for k, v in params.items() if v is not None}}
        if key == "dataset_mean" and p["value"] is None:
            raise RadLensError("mode 'dataset_mean' needs the data set's mean pixel value.",
                               fix="pass value=0.45 (CLI: --mode-param value=0.45), in [0, 1] display units.")
        if key == "blur":
            if p["ksize"] is None and p["sigma"] is None:
                p["ksize"] = 11
            if p["ksize"] is not None:
                p["ksize"] = int(p["ksize"])
                if p["sigma"] is None:
                    p["sigma"] = sigma_for_kernel(p["ksize"])
            p["sigma"] = float(p["sigma"])
        if key == "uniform_noise" and not float(p["low"]) < float(p["high"]):
            raise RadLensError(f"uniform noise needs low < high, got {p['low']} and {p['high']}.")
        return cls(key, p)

    @property
    def needs_mask(self) -> bool:
        """True when the replacement depends on which pixels are replaced (inpainting)."""
        return self.mode == "inpaint"

    def to_dict(self) -> dict[str, Any]:
        """``{"mode": ..., "params": {...}}`` with plain JSON types."""
        return {"mode": self.mode, "params": {k: _plain(v) for k, v in self.params.items()}}

    def fill(self, image: np.ndarray, seed: int = 0, valid: np.ndarray | None = None) -> np.ndarray:
        """The fill image (same shape as ``image``, float32) of a mask-independent mode.

        Args:
            image: ``(H, W)`` or ``(H, W, C)`` float image in [0, 1].
            seed: Seed of the noise modes.
            valid: ``(H, W)`` mask of the image content (statistics are taken over it).
        """
        img = np.asarray(image, dtype=np.float32)
        content = img[valid] if valid is not None else img.reshape(-1, *img.shape[2:])
        p = self.params
        if self.mode == "mean":
            return np.broadcast_to(content.mean(axis=0), img.shape).astype(np.float32)
        if self.mode == "dataset_mean":
            value = np.asarray(p["value"], dtype=np.float32)
            if value.ndim and img.ndim == 3 and value.shape[0] not in (1, img.shape[2]):
                raise RadLensError(f"dataset_mean has {value.shape[0]} values for a {img.shape[2]}-channel image.")
            if value.ndim and img.ndim == 2:
                value = value.mean()
            return np.broadcast_to(value, img.shape).astype(np.float32)
        if self.mode == "zero":
            return np.zeros_like(img)
        if self.mode == "blur":
            return gaussian_blur(img, p["ksize"], p["sigma"])
        rng = np.random.default_rng(int(seed))
        if self.mode == "gaussian_noise":
            mu = content.mean(axis=0) if p["mean"] is None else float(p["mean"])
            sd = content.std(axis=0) if p["sigma"] is None else float(p["sigma"])
            return np.clip(mu + sd * rng.standard_normal(img.shape), 0.0, 1.0).astype(np.float32)
        if self.mode == "uniform_noise":
            return rng.uniform(float(p["low"]), float(p["high"]), img.shape).astype(np.float32)
        raise RadLensError(f"mode {self.mode!r} has no fill image; it depends on the mask.",
                           fix="use Replacement.apply(image, mask).")

    def apply(self, image: np.ndarray, mask: np.ndarray, seed: int = 0, fill: np.ndarray | None = None,
              valid: np.ndarray | None = None) -> np.ndarray:
        """``image`` with the pixels under ``mask`` replaced; every other pixel is untouched."""
        img = np.asarray(image, dtype=np.float32)
        m = np.asarray(mask, dtype=bool)
        if self.mode == "inpaint":
            return inpaint(img, m, valid)
        f = self.fill(img, seed, valid) if fill is None else fill
        return _replaced(img, m[..., None] if img.ndim == 3 else m, f)


#: Images of at least this many values are assembled in two threads (NumPy's copies release the
#: GIL): a 4300 x 3500 slider step's image takes 8 ms instead of 19 ms (issue #19).
PARALLEL_MIN = 1 << 21
_pool: list[ThreadPoolExecutor] = []
_pool_lock = threading.Lock()


def _replaced(img: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``where(mask, fill, img)`` as float32 (the same numbers), in two row halves at once when large."""
    if img.size < PARALLEL_MIN:
        return np.where(mask, fill, img).astype(np.float32, copy=False)  # no 2nd copy
    out = np.empty(img.shape, np.float32)
    fill = np.broadcast_to(fill, img.shape)
    mask = np.broadcast_to(mask, img.shape)

    def part(start: int, stop: int) -> None:
        np.copyto(out[start:stop], img[start:stop], casting="unsafe")
        np.copyto(out[start:stop], fill[start:stop], casting="unsafe", where=mask[start:stop])

    half = img.shape[0] // 2
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="radlens-replace"))
    other = _pool[0].submit(part, half, img.shape[0])
    part(0, half)
    other.result()
    return out


def inpaint(image: np.ndarray, mask: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Biharmonic inpainting of the masked pixels; unmasked pixels are returned unchanged.

    Only the image content (``valid``, a rectangle such as the letterbox content box) is a
    source: letterbox padding would otherwise pull the inpainted pixels towards black. With every
    content pixel masked there is nothing to inpaint from, and they become the content's mean
    (per channel): no information is left, as with the ``mean`` mode.
    """
    from skimage.restoration import inpaint_biharmonic

    if not mask.any():
        return image.copy()
    if valid is not None and not valid.all():
        rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        out = image.copy()
        out[r0:r1, c0:c1] = inpaint(image[r0:r1, c0:c1], mask[r0:r1, c0:c1])
        return out
    if mask.all():
        return np.broadcast_to(image.reshape(-1, *image.shape[2:]).mean(axis=0), image.shape).astype(np.float32)
    channel_axis = -1 if image.ndim == 3 else None
    out = inpaint_biharmonic(image, mask, channel_axis=channel_axis).astype(np.float32)
    out = np.clip(out, 0.0, 1.0)
    keep = ~mask[..., None] if image.ndim == 3 else ~mask
    return np.where(keep, image, out).astype(np.float32)


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
