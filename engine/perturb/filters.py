"""Small pure filters used by the replacement modes and the corruptions.

Images are float arrays ``(H, W)`` or ``(H, W, C)``; filters act on the two spatial axes only.
Borders are mirrored without repeating the edge pixel (OpenCV's ``BORDER_REFLECT_101``, SciPy's
``mode="mirror"``), the default of ``cv2.GaussianBlur`` that the research used.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from engine.errors import RadLensError


def sigma_for_kernel(ksize: int) -> float:
    """The σ OpenCV derives from an odd kernel size when σ is 0: ``0.3 * ((k - 1) / 2 - 1) + 0.8``."""
    return 0.3 * ((ksize - 1) * 0.5 - 1.0) + 0.8


def kernel_for_sigma(sigma: float) -> int:
    """An odd kernel size covering ±3σ (at least 3)."""
    return max(3, 2 * math.ceil(3.0 * sigma) + 1)


def gaussian_kernel_1d(ksize: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps of odd length ``ksize``."""
    if ksize < 1 or ksize % 2 == 0:
        raise RadLensError(f"a Gaussian kernel size must be a positive odd number, not {ksize}.",
                           fix="use e.g. 11 or 21 (the research's 11x11 and 21x21).")
    if sigma <= 0:
        raise RadLensError(f"a Gaussian σ must be positive, not {sigma}.")
    r = (ksize - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2.0 * sigma**2))
    return k / k.sum()


def gaussian_blur(image: np.ndarray, ksize: int | None = None, sigma: float | None = None) -> np.ndarray:
    """Separable Gaussian blur with a ``ksize x ksize`` kernel (σ from OpenCV's rule when not given).

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` float image.
        ksize: Odd kernel size; derived from σ (±3σ) when None.
        sigma: Standard deviation in pixels; derived from ``ksize`` when None.

    Returns:
        The blurred image, float32, same shape.
    """
    if ksize is None and sigma is None:
        raise RadLensError("gaussian blur needs a kernel size or a σ.", fix="pass ksize=11 or sigma=2.")
    k = int(ksize) if ksize is not None else kernel_for_sigma(float(sigma))  # type: ignore[arg-type]
    s = float(sigma) if sigma is not None else sigma_for_kernel(k)
    taps = gaussian_kernel_1d(k, s)
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        out = ndimage.convolve1d(out, taps, axis=axis, mode="mirror")
    return out.astype(np.float32)


def motion_kernel(length: int, sigma: float, angle_deg: float) -> np.ndarray:
    """A 2-D kernel smearing along a line of ``length`` pixels at ``angle_deg``.

    The taps along the line are one-sided Gaussian weights (σ in pixels), as ImageMagick's
    ``-motion-blur radius x sigma + angle`` (the tool ImageNet-C used); the kernel sums to 1.
    """
    length = max(1, int(length))
    t = np.arange(length, dtype=np.float64)
    w = np.exp(-(t**2) / (2.0 * max(sigma, 1e-6) ** 2))
    a = math.radians(angle_deg)
    dx, dy = t * math.cos(a), -t * math.sin(a)
    r = math.ceil(length)
    kernel = np.zeros((2 * r + 1, 2 * r + 1))
    for wi, x, y in zip(w, dx, dy, strict=True):
        kernel[round(r + y), round(r + x)] += wi
    return kernel / kernel.sum()


def convolve2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel with a 2-D kernel (mirrored borders); float32 out."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        return ndimage.correlate(img, kernel, mode="mirror").astype(np.float32)
    return np.stack([ndimage.correlate(img[..., c], kernel, mode="mirror") for c in range(img.shape[2])],
                    axis=-1).astype(np.float32)
