"""From image pixels to the model's input tensor, and coordinates both ways.

Coordinates are continuous pixel-edge coordinates: x to the right, y down, origin at the
top-left corner of the top-left pixel; pixel (row i, col j) covers [j, j+1) x [i, i+1). The
same convention holds in image space and in model-input space, so a point maps by
``model = image * scale + offset`` and back.

Pixel values: images enter as float arrays in [0, 1] (``StudyImage.display``); a uint8 array is
divided by 255; any other integer array is min-max scaled (recorded as ``input_scaling``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import ShapeError
from engine.models.manifest import ModelManifest

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, colour -> one channel


class HasDisplay(Protocol):
    """Anything with a ``display`` array in [0, 1] (``engine.io.StudyImage``)."""

    @property
    def display(self) -> np.ndarray: ...


@dataclass(frozen=True)
class InputGeometry:
    """How an image of ``image_size`` sits inside a model input of ``model_size``.

    ``model = image * (scale_x, scale_y) + (offset_x, offset_y)`` in pixel-edge coordinates.
    """

    image_size: tuple[int, int]  # (H, W)
    model_size: tuple[int, int]  # (Hm, Wm)
    policy: str
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    @classmethod
    def fit(cls, image_size: tuple[int, int], model_size: tuple[int, int], policy: str) -> InputGeometry:
        h, w = image_size
        hm, wm = model_size
        if policy == "stretch":
            return cls((h, w), (hm, wm), policy, wm / w, hm / h, 0.0, 0.0)
        s = min(hm / h, wm / w)
        ch, cw = max(1, round(h * s)), max(1, round(w * s))
        return cls((h, w), (hm, wm), policy, cw / w, ch / h, float((wm - cw) // 2), float((hm - ch) // 2))

    @property
    def content_box(self) -> tuple[int, int, int, int]:
        """Where the image lies in the model input: (x0, y0, x1, y1) integers."""
        h, w = self.image_size
        x0, y0 = int(self.offset_x), int(self.offset_y)
        return x0, y0, x0 + round(w * self.scale_x), y0 + round(h * self.scale_y)

    def image_to_model(self, xy: np.ndarray) -> np.ndarray:
        """Map points (..., 2) as (x, y) from image to model-input coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy * (self.scale_x, self.scale_y) + (self.offset_x, self.offset_y)

    def model_to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map points (..., 2) as (x, y) from model-input to image coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - (self.offset_x, self.offset_y)) / (self.scale_x, self.scale_y)

    def boxes_to_model(self, boxes: np.ndarray) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2)
        return self.image_to_model(b).reshape(-1, 4)

    def boxes_to_image(self, boxes: np.ndarray) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2)
        return self.model_to_image(b).reshape(-1, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size), "model_size": list(self.model_size),
            "policy": self.policy, "scale_x": self.scale_x, "scale_y": self.scale_y,
            "offset_x": self.offset_x, "offset_y": self.offset_y,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputGeometry:
        h, w = d["image_size"]
        hm, wm = d["model_size"]
        return cls((h, w), (hm, wm), d["policy"], d["scale_x"], d["scale_y"], d["offset_x"], d["offset_y"])


def as_unit_image(image: np.ndarray | HasDisplay) -> tuple[np.ndarray, str]:
    """Return the image as float32 in [0, 1] (H, W) or (H, W, C), and how it was scaled."""
    if not isinstance(image, np.ndarray):
        display = getattr(image, "display", None)
        if display is None:
            raise TypeError("image must be a numpy array or have a 'display' array (StudyImage)")
        return as_unit_image(np.asarray(display))
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ShapeError("image", arr.shape, "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if min(arr.shape[:2]) < 2:
        raise ShapeError("image", arr.shape, "at least 2 x 2 pixels")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, "uint8/255"
    if arr.dtype == bool:
        return arr.astype(np.float32), "bool"
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = float(arr.min()), float(arr.max())
        out = (arr.astype(np.float32) - lo) / (hi - lo) if hi > lo else np.zeros(arr.shape, np.float32)
        return out, f"integer min-max [{lo:g}, {hi:g}]"
    out = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out)):
        raise ValueError("image holds NaN or infinite values")
    lo, hi = float(out.min()), float(out.max())
    if lo < 0.0 or hi > 1.0:
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros(out.shape, np.float32)
        return out, f"float min-max [{lo:g}, {hi:g}]"
    return out, "float [0,1] as given"


def to_model_input(
    image: np.ndarray | HasDisplay, manifest: ModelManifest
) -> tuple[torch.Tensor, InputGeometry, str]:
    """Turn an image into the model's normalised input ``(1, C, Hm, Wm)``.

    Channels: a grayscale image is repeated to ``in_channels``; a colour image fed to a
    one-channel model becomes luminance (BT.601). Resizing is bilinear with antialiasing
    when shrinking; ``letterbox`` pads with black (0 before normalisation), centred.

    Returns:
        The input tensor (float32, CPU), the geometry, and how pixel values were scaled.
    """
    unit, scaling = as_unit_image(image)
    t = torch.from_numpy(np.array(unit, dtype=np.float32, order="C", copy=not unit.flags.writeable))
    if t.ndim == 2:
        t = t[None].expand(manifest.in_channels, -1, -1)
    else:
        t = t.permute(2, 0, 1)
        if manifest.in_channels == 1:
            w = torch.tensor(LUMA_WEIGHTS, dtype=t.dtype)[:, None, None]
            t = (t * w).sum(0, keepdim=True)
    h, w_ = unit.shape[:2]
    geometry = InputGeometry.fit((h, w_), manifest.input_size, manifest.resize)
    x0, y0, x1, y1 = geometry.content_box
    content = _resize(t[None].float(), (y1 - y0, x1 - x0))
    hm, wm = manifest.input_size
    if (y1 - y0, x1 - x0) != (hm, wm):
        canvas = torch.zeros((1, t.shape[0], hm, wm), dtype=torch.float32)
        canvas[..., y0:y1, x0:x1] = content
        content = canvas
    mean = torch.tensor(manifest.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(manifest.std, dtype=torch.float32)[None, :, None, None]
    return ((content - mean) / std).contiguous(), geometry, scaling


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def resample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resample maps ``(N, h, w)`` covering a frame to ``size`` over the same frame."""
    return _resize(maps[:, None].float(), size)[:, 0]


def maps_to_image(maps: torch.Tensor, geometry: InputGeometry) -> torch.Tensor:
    """Resample maps ``(N, h, w)`` that cover the model-input frame onto the original image.

    Bilinear, ``align_corners=False`` semantics: each image pixel centre is mapped into the
    model frame and sampled there. For the ``stretch`` policy this equals plain resizing.
    """
    h, w = geometry.image_size
    if geometry.policy == "stretch":
        return resample_maps(maps, (h, w))
    hm, wm = geometry.model_size
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) * geometry.scale_y + geometry.offset_y
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) * geometry.scale_x + geometry.offset_x
    gy = (2.0 * ys / hm - 1.0).float()
    gx = (2.0 * xs / wm - 1.0).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    src = maps[:, None].float()
    if maps.shape[-2] > hm or maps.shape[-1] > wm:
        src = _resize(src, (hm, wm))
    out = F.grid_sample(src, grid.expand(maps.shape[0], -1, -1, -1), mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out[:, 0]
