"""Model grid -> pixels: the one function that puts a map's grid cells on image or model pixels.

A map covers the model-input frame on a grid of ``h x w`` cells (a CAM layer's grid, or the
model input itself for gradient methods). Where each cell's centre sits on the model input is a
:class:`GridAlignment` ``centre = a * i + b``:

* tile centres (:func:`resize_alignment`): cell ``i`` centred on its tile, what plain resizing
  (``F.interpolate(align_corners=False)``, ``cv2.resize``) assumes;
* receptive-field centres, measured on the network (:mod:`engine.explainers.alignment`).

:func:`grid_to_pixels` samples the grid bilinearly at the pixel centres of the original image,
of the model input, or of the image drawn at another size (a report's print resolution), through
the image's :class:`engine.preprocess.InputGeometry`. ``ExplanationResult.map``, the perturbation
frame and the report all call it; :func:`engine.preprocess.maps_to_image` is the tile-centre case.

Coordinates are continuous pixel-edge coordinates (pixel ``k`` covers ``[k, k + 1)``, centre
``k + 0.5``). Values beyond the outermost cell centres repeat the border cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import ExplainError

if TYPE_CHECKING:
    from engine.preprocess import InputGeometry

SPACES = ("image", "model")


@dataclass(frozen=True)
class GridAlignment:
    """Model-input pixel coordinates of grid cell centres: ``y = ay*i + by``, ``x = ax*j + bx``.

    Coordinates are pixel indices of the model input (pixel ``k`` covers ``[k, k+1)``, centre
    ``k + 0.5`` in continuous coordinates). ``grid`` is the ``(h, w)`` the alignment belongs to.
    """

    ay: float
    by: float
    ax: float
    bx: float
    grid: tuple[int, int]
    #: ``receptive_field`` (measured) or ``resize`` (tile centres: asked for, or the fallback)
    source: str = "receptive_field"
    #: how the fields were found (``layer arithmetic``, or ``probe: <why>``); not part of equality
    how: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The alignment as JSON-ready values."""
        out: dict[str, Any] = {"ay": self.ay, "by": self.by, "ax": self.ax, "bx": self.bx, "grid": list(self.grid),
                               "source": self.source}
        if self.how:
            out["how"] = self.how
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GridAlignment:
        """The alignment written by :meth:`to_dict`."""
        return cls(float(d["ay"]), float(d["by"]), float(d["ax"]), float(d["bx"]),
                   (int(d["grid"][0]), int(d["grid"][1])), str(d.get("source", "receptive_field")),
                   str(d.get("how", "")))


def resize_alignment(grid: tuple[int, int], model_size: tuple[int, int]) -> GridAlignment:
    """The plain-resize convention: cell ``i`` centred on its tile, ``(i + 0.5) * H/h - 0.5``."""
    sy, sx = model_size[0] / grid[0], model_size[1] / grid[1]
    return GridAlignment(sy, (sy - 1) / 2, sx, (sx - 1) / 2, (int(grid[0]), int(grid[1])), "resize")


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` over the same frame: bilinear, ``align_corners=False``, antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def _axis_weights(centres: torch.Tensor, a: float, b: float, n: int) -> torch.Tensor:
    """``(len(centres), n)`` float64 linear-interpolation weights along one axis.

    Position ``c`` (model-input coordinate, pixel centres at ``k + 0.5``) lies at fractional cell
    index ``(c - 0.5 - b) / a``, clamped to the outermost cell centres (``grid_sample``'s border
    padding), and takes ``1 - f`` of cell ``floor`` and ``f`` of the next.
    """
    idx = ((centres.double() - 0.5 - b) / a).clamp(0.0, n - 1.0)
    low = idx.floor().long().clamp(max=n - 1)
    frac = idx - low
    high = (low + 1).clamp(max=n - 1)
    weights = torch.zeros((centres.numel(), n), dtype=torch.float64, device=centres.device)
    rows = torch.arange(centres.numel(), device=centres.device)
    weights.index_put_((rows, low), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)
    return weights


def sample_grid(maps: torch.Tensor, alignment: GridAlignment, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Sample grid maps ``(N, h, w)`` bilinearly at model-input positions ``ys`` x ``xs``.

    ``ys``/``xs`` are continuous model-input coordinates (pixel centres are ``k + 0.5``); values
    outside the outermost cell centres repeat the border cells.

    Bilinear sampling on a rectangular lattice of positions is separable, so the result is
    ``Wy @ M @ Wx^T`` with ``Wy``/``Wx`` the per-axis interpolation weights (two non-zeros a
    row): the small product ``Wy @ M`` in float64, then one float32 matrix product per map. It
    equals ``F.grid_sample(..., mode="bilinear", padding_mode="border", align_corners=False)`` on
    the meshgrid of positions to float32 rounding (a test compares them), and at 3000 x 3000
    takes a fraction of the time and none of its 72 MB coordinate grid (issue #19).

    Raises:
        ExplainError: The maps' grid is not the alignment's.
    """
    h, w = maps.shape[-2:]
    if (h, w) != alignment.grid:
        raise ExplainError(f"map grid {(h, w)} does not match its alignment's grid {alignment.grid}.")
    wy = _axis_weights(ys, alignment.ay, alignment.by, h)
    wx = _axis_weights(xs, alignment.ax, alignment.bx, w)
    rows = torch.matmul(wy, maps.double()).float()  # (N, H, w): small
    wxt = wx.t().float().contiguous()
    if rows.device.type != "cpu" or rows.requires_grad:
        return torch.matmul(rows, wxt)
    # This thin product (inner size w, a few to a few dozen) is memory-bound: NumPy's BLAS
    # (OpenBLAS) writes it 4x faster than torch's MKL on an AMD EPYC (4300 x 3500: 12 vs 52 ms a
    # map, one thread). Two non-zero weights a row: the sums are the same float32 numbers.
    return torch.from_numpy(np.matmul(rows.numpy(), wxt.numpy()))


def pixel_centres(
    geometry: InputGeometry, space: str = "image", size: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-input coordinates (ys, xs) of the pixel centres of ``space``, float64.

    Args:
        geometry: How the image sits in the model input.
        space: ``image`` (the original image's pixels) or ``model`` (the model input's).
        size: ``(H, W)`` to draw ``space`` at instead of its own size (e.g. a printed figure).

    Raises:
        ValueError: Unknown ``space``.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, not {space!r}")
    own = geometry.model_size if space == "model" else geometry.image_size
    h, w = size or own
    # pixel centres of the drawn grid, in ``space``'s own pixel-edge coordinates
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) * (own[0] / h)
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) * (own[1] / w)
    if space == "model":
        return ys, xs
    return ys * geometry.scale_y + geometry.offset_y, xs * geometry.scale_x + geometry.offset_x


def _is_plain_resize(geometry: InputGeometry, space: str) -> bool:
    """Whether the pixels of ``space`` tile exactly the frame the map covers."""
    return space == "model" or geometry.policy == "stretch"


def grid_to_pixels(
    maps: torch.Tensor, geometry: InputGeometry, space: str = "image", alignment: GridAlignment | None = None,
    *, size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Maps ``(N, h, w)`` covering the model-input frame, sampled at the pixel centres of ``space``.

    Args:
        maps: Grid maps over the model-input frame.
        geometry: How the image sits in the model input.
        space: ``image`` or ``model`` pixels.
        alignment: Where the grid's cells sit on the model input; None means tile centres
            (:func:`resize_alignment`). Then, when the pixels tile the map's frame (model space, or
            a stretched image), this is a plain :func:`resize_bilinear`, antialiased when
            shrinking; a grid finer than the model input is first shrunk to it the same way.
        size: ``(H, W)`` to draw ``space`` at instead of its own size.

    Returns:
        ``(N, H, W)`` float32 maps.
    """
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, h, w), not {tuple(maps.shape)}")
    ys, xs = pixel_centres(geometry, space, size)
    if alignment is None:
        out_size = (int(ys.numel()), int(xs.numel()))
        if _is_plain_resize(geometry, space):
            return resize_bilinear(maps[:, None].float(), out_size)[:, 0]
        hm, wm = geometry.model_size
        if maps.shape[-2] > hm or maps.shape[-1] > wm:
            maps = resize_bilinear(maps[:, None].float(), (hm, wm))[:, 0]
        alignment = resize_alignment((int(maps.shape[-2]), int(maps.shape[-1])), (hm, wm))
    return sample_grid(maps, alignment, ys.to(maps.device), xs.to(maps.device))


def regrid(maps: torch.Tensor, source: GridAlignment, target: GridAlignment) -> torch.Tensor:
    """Resample maps on ``source``'s grid onto ``target``'s cell centres (for fusing layers)."""
    th, tw = target.grid
    ys = target.ay * torch.arange(th, dtype=torch.float64) + target.by + 0.5
    xs = target.ax * torch.arange(tw, dtype=torch.float64) + target.bx + 0.5
    return sample_grid(maps, source, ys.to(maps.device), xs.to(maps.device))
