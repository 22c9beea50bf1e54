"""Where a layer's grid cells sit on the model input: receptive-field alignment of CAM maps.

A CAM map lives on its layer's grid (e.g. 16 x 16 for ResNet ``layer3`` at 256 px). To draw it on
the image, each cell must be put where the evidence it summarises came from. Plain resizing
(``cv2.resize``, ``F.interpolate(align_corners=False)``; what pytorch-grad-cam and torchcam do)
assumes cell ``i`` is centred at input pixel ``s*i + (s-1)/2`` (stride ``s``), the centre of the
cell's tile. But a stride-2 convolution with ``padding = k // 2`` centres its output ``i`` on input
``2*i``: through a ResNet the centre of cell ``i`` is input pixel ``s*i``, so resized maps sit
``(s-1)/2`` input pixels too far right and down (7.5 px at stride 16; 15 px on a 512 px film).
For small findings that is the difference between the map's peak on the nodule and next to it.

:func:`measure_alignment` finds the centres on the actual network, independently of its weights:
the support of ``d(sum_k A_k[i, j]) / dx`` (the cell's theoretical receptive field) for the first
and the last cell of each axis gives ``centre = a*i + b`` (the midpoint of the two fields' inner
edges). Where the field is wider than the input, the probe is repeated on a 2x and 4x larger input
(the offset ``b`` of a convolutional trunk does not depend on the input size). The result is cached
per module, layer and input shape.

The alignment type and the sampling itself live in :mod:`engine.sampling` (re-exported here).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from engine.errors import ExplainError
from engine.models.lock import model_lock
from engine.sampling import GridAlignment, regrid, resize_alignment
from engine.sampling import sample_grid as resample_aligned

__all__ = ["ALIGNMENTS", "GridAlignment", "measure_alignment", "regrid", "resample_aligned", "resize_alignment"]

ALIGNMENTS = ("receptive_field", "resize")


_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], GridAlignment | None]] = weakref.WeakKeyDictionary()


def measure_alignment(module: nn.Module, layer: str, x: torch.Tensor, seed: int = 0) -> GridAlignment | None:
    """Receptive-field centres of ``layer``'s grid cells for inputs shaped like ``x``.

    Falls back to :func:`resize_alignment` when the layer has no 2-D grid, when the fields stay
    wider than a 4x input, or when the probe's grid does not scale with the input; None when the
    layer has no 2-D grid (the method then reports that).
    """
    key = (layer, tuple(x.shape[1:]), str(x.device))
    cached = _CACHE.setdefault(module, {})
    if key not in cached:
        with model_lock(module):  # the probe hooks the layer and runs the network
            cached[key] = _measure(module, layer, x, seed)
    return cached[key]


def _measure(module: nn.Module, layer: str, x: torch.Tensor, seed: int) -> GridAlignment | None:
    target = dict(module.named_modules()).get(layer)
    if target is None:
        raise ExplainError(f"layer '{layer}' not found in the model.")
    big_h, big_w = int(x.shape[-2]), int(x.shape[-1])
    grid: tuple[int, int] | None = None
    for k in (1, 2, 4):
        edges = _field_edges(module, target, x, (big_h * k, big_w * k), seed)
        if edges is None:
            break
        (h, w), fy, fx = edges
        if grid is None:
            grid = (h, w)
        if fy is not None and fx is not None:
            # stride of the grid on this input, then the offset of cell 0's centre
            ay, ax = big_h * k / h, big_w * k / w
            by, bx = (fy - ay * (h - 1)) / 2, (fx - ax * (w - 1)) / 2
            if grid is not None and abs(ay - big_h / grid[0]) < 1e-6 and abs(ax - big_w / grid[1]) < 1e-6:
                return GridAlignment(ay, by, ax, bx, grid)
            break
    if grid is None:
        return None
    return resize_alignment(grid, (big_h, big_w))


def _field_edges(
    module: nn.Module, target: nn.Module, x: torch.Tensor, size: tuple[int, int], seed: int
) -> tuple[tuple[int, int], float | None, float | None] | None:
    """The grid, and per axis ``last edge of cell 0's field + first edge of the last cell's field``.

    None for an axis whose fields reach both borders (wider than the input).
    """
    seen: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        seen["a"] = out[0] if isinstance(out, (tuple, list)) else out

    gen = torch.Generator().manual_seed(seed)
    probe = torch.randn((2, x.shape[1], *size), generator=gen).to(x.device, x.dtype).requires_grad_(True)
    handle = target.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            module(probe)
            a = seen.get("a")
            if a is None or a.ndim != 4:
                return None
            h, w = int(a.shape[-2]), int(a.shape[-1])
            fields = []
            for i, j in ((0, 0), (h - 1, w - 1)):
                (g,) = torch.autograd.grad(a[:, :, i, j].sum(), probe, retain_graph=True)
                support = g.detach().abs().sum((0, 1)) > 0
                rows = torch.nonzero(support.any(1)).flatten()
                cols = torch.nonzero(support.any(0)).flatten()
                if rows.numel() == 0 or cols.numel() == 0:
                    return None
                fields.append((int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())))
    finally:
        handle.remove()
    (_, r0_hi, _, c0_hi), (r1_lo, _, c1_lo, _) = fields
    fy = float(r0_hi + r1_lo) if (r0_hi < size[0] - 1 and r1_lo > 0 and h > 1) else None
    fx = float(c0_hi + c1_lo) if (c0_hi < size[1] - 1 and c1_lo > 0 and w > 1) else None
    return (h, w), fy, fx
