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

from engine.errors import ShapeError
from engine.models.manifest import ModelManifest
from engine.sampling import grid_to_pixels, resize_bilinear

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


def model_channels(images: torch.Tensor, in_channels: int) -> torch.Tensor:
    """``(B, H, W)`` or ``(B, H, W, C)`` pixels as ``(B, in_channels, H, W)`` float32.

    A grayscale image is repeated to ``in_channels``; a colour image fed to a one-channel model
    becomes luminance (BT.601, :data:`LUMA_WEIGHTS`).
    """
    t = images.float()
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    if t.shape[1] == 1:
        return t.expand(-1, in_channels, -1, -1)
    if in_channels == 1:
        w = torch.tensor(LUMA_WEIGHTS, dtype=t.dtype)[None, :, None, None]
        return (t * w).sum(1, keepdim=True)
    return t


def place_in_frame(x: torch.Tensor, geometry: InputGeometry) -> torch.Tensor:
    """Image-sized ``(B, C, H, W)`` resized into the model input's content box, padded with 0 around it.

    Resizing is :func:`engine.sampling.resize_bilinear` (antialiased when shrinking); the padding
    of ``letterbox`` is centred.
    """
    x0, y0, x1, y1 = geometry.content_box
    content = resize_bilinear(x, (y1 - y0, x1 - x0))
    hm, wm = geometry.model_size
    if (y1 - y0, x1 - x0) == (hm, wm):
        return content
    canvas = torch.zeros((x.shape[0], x.shape[1], hm, wm), dtype=torch.float32)
    canvas[..., y0:y1, x0:x1] = content
    return canvas


def normalise_input(x: torch.Tensor, manifest: ModelManifest) -> torch.Tensor:
    """``(x - mean) / std`` per channel, as the model was trained."""
    mean = torch.tensor(manifest.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(manifest.std, dtype=torch.float32)[None, :, None, None]
    return ((x - mean) / std).contiguous()


def frame_pixels(
    unit_images: torch.Tensor | np.ndarray, manifest: ModelManifest, geometry: InputGeometry | None
) -> torch.Tensor:
    """Model-input pixels in [0, 1], ``(B, Cm, Hm, Wm)``, before normalisation.

    Args:
        unit_images: ``(B, H, W)`` or ``(B, H, W, C)`` pixels in [0, 1] (:func:`as_unit_image`).
        manifest: The model's input contract (channels, size, resize policy).
        geometry: How an image of ``(H, W)`` sits in the model input; None when the images are
            already model-input pixels (a perturbation frame at model resolution).

    Raises:
        ShapeError: The images are not ``geometry.image_size`` (or the model input size).
    """
    t = torch.as_tensor(unit_images)
    if t.ndim not in (3, 4):
        raise ShapeError("image batch", tuple(t.shape), "(B, H, W) or (B, H, W, C)")
    expected = tuple(manifest.input_size) if geometry is None else tuple(geometry.image_size)
    if tuple(t.shape[1:3]) != expected:
        raise ShapeError("image batch", tuple(t.shape), f"(B, {expected[0]}, {expected[1]}[, C])")
    x = model_channels(t, manifest.in_channels)
    return x if geometry is None else place_in_frame(x, geometry)


def prepare_batch(
    unit_images: torch.Tensor | np.ndarray, manifest: ModelManifest, geometry: InputGeometry | None
) -> torch.Tensor:
    """The model's normalised input ``(B, Cm, Hm, Wm)`` from images in [0, 1].

    The one path from pixels to the model: channels (:func:`model_channels`), resize and
    letterbox (:func:`place_in_frame`), normalisation (:func:`normalise_input`). Both
    :func:`to_model_input` and the perturbation frame call it. Arguments as :func:`frame_pixels`.
    """
    return normalise_input(frame_pixels(unit_images, manifest, geometry), manifest)


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
    h, w = unit.shape[:2]
    geometry = InputGeometry.fit((h, w), manifest.input_size, manifest.resize)
    return prepare_batch(t[None], manifest, geometry), geometry, scaling


def resample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resample maps ``(N, h, w)`` covering a frame to ``size`` over the same frame."""
    return resize_bilinear(maps[:, None].float(), size)[:, 0]


def maps_to_image(maps: torch.Tensor, geometry: InputGeometry) -> torch.Tensor:
    """Resample maps ``(N, h, w)`` that cover the model-input frame onto the original image.

    Bilinear, ``align_corners=False`` semantics: each image pixel centre is mapped into the
    model frame and sampled there (cells at their tile centres). For the ``stretch`` policy this
    equals plain resizing. The tile-centre case of :func:`engine.sampling.grid_to_pixels`.
    """
    return grid_to_pixels(maps, geometry, "image")
