"""Where a layer's grid cells sit on the model input: receptive-field alignment of CAM maps.

A CAM map lives on its layer's grid (e.g. 16 x 16 for ResNet ``layer3`` at 256 px). To draw it on
the image, each cell must be put where the evidence it summarises came from. Plain resizing
(``cv2.resize``, ``F.interpolate(align_corners=False)``; what pytorch-grad-cam and torchcam do)
assumes cell ``i`` is centred at input pixel ``s*i + (s-1)/2`` (stride ``s``), the centre of the
cell's tile. But a stride-2 convolution with ``padding = k // 2`` centres its output ``i`` on input
``2*i``: through a ResNet the centre of cell ``i`` is input pixel ``s*i``, so resized maps sit
``(s-1)/2`` input pixels too far right and down (7.5 px at stride 16; 15 px on a 512 px film).
For small findings that is the difference between the map's peak on the nodule and next to it.

:func:`measure_alignment` finds the centres on the actual network, independently of its weights.
The theoretical receptive field of the first and the last cell of each axis (the input rows and
columns ``A[i, j]`` depends on) gives ``centre = a*i + b`` (the midpoint of the two fields' inner
edges, ``a`` = input size / grid size). Where the field is wider than the input, the same is done on
a 2x and a 4x larger input (the offset ``b`` of a convolutional trunk does not depend on the input
size); where it stays wider, or the stride found there is not the input's, cells go to tile centres.

The fields come from the layer arithmetic (:mod:`engine.explainers.fields`): one pass of the network
on shape-only tensors per input size, each op's output carrying its cells' input rows and columns
(convolutions and poolings take the union of their valid taps, sums and concatenations the union of
their operands, global pooling and squeeze-and-excitation the whole axis). It costs milliseconds
(scripts/bench_models.py: under 0.1 s for ResNet-50, ConvNeXt-T, DenseNet-121 and EfficientNet-B0 at
a first start) and gives what the gradient probe it replaces measures, the support of
``d(sum_k A_k[i, j]) / dx``: equal on seven torchvision networks, their stage outputs, at three input
sizes (tests/engine/test_alignment_arithmetic.py). Where an op on the way to the layer is not covered
(upsampling, indexing, a transposed convolution, a forward that needs values), :func:`_probe` measures
instead, and :attr:`GridAlignment.how` and the result's notes say so. The probe reads smaller fields
than the arithmetic only where gradients vanish exactly (zero-initialised residual gains, float32
underflow through ConvNeXt's 1e-6 layer scales at init, saturated gates), i.e. on degenerate weights.

The result is cached per module, layer and input shape, and (with ``disk_key``, the weights'
SHA-256) on disk under the user's cache folder (:func:`cache_dir`) and in a bundle's
``alignment/`` folder, so a second start of the same bundle reads it back.

The alignment type and the sampling itself live in :mod:`engine.sampling` (re-exported here).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import atomic_write_text
from engine.errors import ExplainError
from engine.explainers.fields import UnsupportedOp, field_edges
from engine.models.lock import model_lock
from engine.sampling import GridAlignment, regrid, resize_alignment
from engine.sampling import sample_grid as resample_aligned

__all__ = ["ALIGNMENTS", "GridAlignment", "measure_alignment", "regrid", "resample_aligned", "resize_alignment"]

ALIGNMENTS = ("receptive_field", "resize")


_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], GridAlignment | None]] = weakref.WeakKeyDictionary()


#: Part of the disk cache key: bump when the probe's answer could change.
PROBE_VERSION = 2


def cache_dir() -> Path:
    """Where measured alignments are kept: ``$RADLENS_CACHE_DIR``, else ``$XDG_CACHE_HOME/radlens``
    (``~/.cache/radlens``), subfolder ``alignment``."""
    root = os.environ.get("RADLENS_CACHE_DIR")
    if root:
        return Path(root) / "alignment"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "radlens" / "alignment"


def _disk_file(disk_key: str, layer: str, shape: tuple[int, ...]) -> Path:
    text = json.dumps([PROBE_VERSION, disk_key, layer, list(shape)])
    return cache_dir() / (hashlib.sha256(text.encode()).hexdigest()[:40] + ".json")


def write_shipped(folder: Path, disk_key: str, layer: str, shape: tuple[int, ...], value: GridAlignment | None) -> Path:
    """Write one measured alignment into a bundle's :data:`BUNDLE_ALIGNMENT_DIR` ``folder``."""
    path = folder / _disk_file(disk_key, layer, shape).name
    _write_disk(path, disk_key, layer, shape, value)
    return path


def _read_disk(path: Path) -> tuple[bool, GridAlignment | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return True, (GridAlignment.from_dict(data["alignment"]) if data.get("alignment") else None)
    except (OSError, ValueError, KeyError, TypeError):
        return False, None  # absent or damaged: measure again (and rewrite it)


def _write_disk(path: Path, disk_key: str, layer: str, shape: tuple[int, ...], value: GridAlignment | None) -> None:
    payload = {"probe_version": PROBE_VERSION, "weights_sha256": disk_key, "layer": layer, "input_shape": list(shape),
               "alignment": value.to_dict() if value is not None else None}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache folder costs a computation next time, nothing else


#: A bundle's own folder of measured alignments (files named as in the user's cache): shipped
#: bundles carry their layers' answers, so even the first start on a new machine computes nothing.
BUNDLE_ALIGNMENT_DIR = "alignment"


def measure_alignment(
    module: nn.Module, layer: str, x: torch.Tensor, seed: int = 0, *, disk_key: str | None = None,
    shipped: Path | None = None,
) -> GridAlignment | None:
    """Receptive-field centres of ``layer``'s grid cells for inputs shaped like ``x``.

    Computed by the layer arithmetic, or by the gradient probe where an op is not covered (``how``
    says which). Falls back to :func:`resize_alignment` when the fields stay wider than a 4x input,
    or when the grid does not scale with the input; None when the
    layer has no 2-D grid (the method then reports that). With ``disk_key`` (the weights'
    SHA-256) the answer is also kept on disk, keyed by weights, layer and input shape; ``shipped``
    (a bundle's :data:`BUNDLE_ALIGNMENT_DIR`) is read first and never written.
    """
    key = (layer, tuple(x.shape[1:]), str(x.device))
    cached = _CACHE.setdefault(module, {})
    if key not in cached:
        path = _disk_file(disk_key, layer, tuple(x.shape[1:])) if disk_key else None
        found, value = False, None
        if path is not None and shipped is not None:
            found, value = _read_disk(shipped / path.name)
        if not found and path is not None:
            found, value = _read_disk(path)
        if not found:
            with model_lock(module):  # both hook the layer and run the network
                value = _measure(module, layer, x, seed)
            if path is not None and disk_key:
                _write_disk(path, disk_key, layer, tuple(x.shape[1:]), value)
        cached[key] = value
    return cached[key]


def _measure(module: nn.Module, layer: str, x: torch.Tensor, seed: int) -> GridAlignment | None:
    """The layer's alignment from the layer arithmetic (:mod:`engine.explainers.fields`, milliseconds);
    where an op on the way is not covered there, from the probe, with the reason in ``how``."""
    target = _target(module, layer)
    channels = int(x.shape[1])
    collecting = gc.isenabled()
    # The passes allocate a few thousand small objects; a full cyclic collection that falls due among
    # them (its cost grows with the whole process's heap, ~0.15 s after importing torch) is left for later.
    gc.disable()
    try:
        value = _fit(x, lambda size: _no_shortcut(field_edges(module, target, channels, size)))
        how = "layer arithmetic"
    except UnsupportedOp as err:
        value, how = None, f"gradient probe ({err})"
    finally:
        if collecting:
            gc.enable()
    if how != "layer arithmetic":
        value = _probe(module, layer, x, seed)
    return replace(value, how=how) if value is not None else None


def _target(module: nn.Module, layer: str) -> nn.Module:
    target = dict(module.named_modules()).get(layer)
    if target is None:
        raise ExplainError(f"layer '{layer}' not found in the model.")
    return target


Edges = tuple[tuple[int, int], float | None, float | None, bool]


def _no_shortcut(edges: tuple[tuple[int, int], float | None, float | None] | None) -> Edges | None:
    return None if edges is None else (*edges, False)


def _fit(x: torch.Tensor, edges: Callable[[tuple[int, int]], Edges | None]) -> GridAlignment | None:
    """``centre = a*i + b`` from the fields' inner edges on the input, else on a 2x and a 4x input.

    ``edges(size)`` gives the grid, per axis the sum of the inner edges (None where the fields reach
    both borders) and whether to stop (fields as wide as any input); None when there is no grid.
    """
    big_h, big_w = int(x.shape[-2]), int(x.shape[-1])
    grid: tuple[int, int] | None = None
    for k in (1, 2, 4):
        got = edges((big_h * k, big_w * k))
        if got is None:
            break
        (h, w), fy, fx, stop = got
        if grid is None:
            grid = (h, w)
        if stop:
            break  # fields as wide as any input: tile centres, as three probes would conclude
        if fy is not None and fx is not None:
            # stride of the grid on this input, then the offset of cell 0's centre
            ay, ax = big_h * k / h, big_w * k / w
            by, bx = (fy - ay * (h - 1)) / 2, (fx - ax * (w - 1)) / 2
            if abs(ay - big_h / grid[0]) < 1e-6 and abs(ax - big_w / grid[1]) < 1e-6:
                return GridAlignment(ay, by, ax, bx, grid)
            break
    if grid is None:
        return None
    return resize_alignment(grid, (big_h, big_w))


def _probe(module: nn.Module, layer: str, x: torch.Tensor, seed: int, *, fast: bool = True) -> GridAlignment | None:
    """The gradient probe: the support of ``d(sum_k A_k[i, j]) / dx`` of the first and the last cell.

    ``fast=False`` is the original probe (two backward passes per input size, no shortcut); both are
    the references the layer arithmetic is tested against.
    """
    target = _target(module, layer)
    state: dict[str, Any] = {}

    def edges(size: tuple[int, int]) -> Edges | None:
        if not fast:
            return _no_shortcut(_field_edges(module, target, x, size, seed))
        got = _field_edges_fast(module, target, x, size, seed, state)
        return None if got is None else (*got, bool(state.get("global_pool")))

    return _fit(x, edges)


class _Stop(Exception):
    """Raised by the probe's hook once the target layer has run: the rest of the network is not needed."""


def _field_edges_fast(
    module: nn.Module, target: nn.Module, x: torch.Tensor, size: tuple[int, int], seed: int, state: dict[str, Any]
) -> tuple[tuple[int, int], float | None, float | None] | None:
    """As :func:`_field_edges`, with one backward: sample 0 of the probe batch carries cell 0's
    gradient, sample 1 the last cell's. The forward stops after the target layer when the first
    forward showed it runs once; that first forward also notes whether a global pooling (a 1x1
    output of a larger grid, e.g. squeeze-and-excitation) completes before the target does."""
    seen: dict[str, Any] = {"calls": 0}
    stop_early = state.get("calls") == 1
    first = "calls" not in state

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        seen["a"] = out[0] if isinstance(out, (tuple, list)) else out
        seen["calls"] += 1
        if stop_early:
            raise _Stop

    def pool_hook(_m: nn.Module, inp: Any, out: Any) -> None:
        if "a" in seen or not isinstance(out, torch.Tensor) or out.ndim != 4 or not inp:
            return
        src = inp[0]
        if isinstance(src, torch.Tensor) and src.ndim == 4 and src.shape[-2] * src.shape[-1] > 1 \
                and out.shape[-2] * out.shape[-1] == 1:
            seen["global_pool"] = True

    gen = torch.Generator().manual_seed(seed)
    probe = torch.randn((2, x.shape[1], *size), generator=gen).to(x.device, x.dtype).requires_grad_(True)
    handles = [target.register_forward_hook(hook)]
    if first:
        handles += [m.register_forward_hook(pool_hook) for m in module.modules() if m is not target]
    try:
        with torch.enable_grad():
            try:
                module(probe)
            except _Stop:
                pass
            if first:
                state["calls"] = seen["calls"]
                state["global_pool"] = bool(seen.get("global_pool"))
            a = seen.get("a")
            if a is None or a.ndim != 4:
                return None
            h, w = int(a.shape[-2]), int(a.shape[-1])
            if state["global_pool"]:
                return (h, w), None, None
            (g,) = torch.autograd.grad(a[0, :, 0, 0].sum() + a[1, :, h - 1, w - 1].sum(), probe)
            fields = []
            for sample in (0, 1):
                extent = _support_extent(g[sample].detach().abs().sum(0) > 0)
                if extent is None:
                    return None
                fields.append(extent)
    finally:
        for handle in handles:
            handle.remove()
    (_, r0_hi, _, c0_hi), (r1_lo, _, c1_lo, _) = fields
    fy = float(r0_hi + r1_lo) if (r0_hi < size[0] - 1 and r1_lo > 0 and h > 1) else None
    fx = float(c0_hi + c1_lo) if (c0_hi < size[1] - 1 and c1_lo > 0 and w > 1) else None
    return (h, w), fy, fx


def _support_extent(support: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(first row, last row, first column, last column) of a 2-D boolean support; None when empty."""
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    if rows.numel() == 0 or cols.numel() == 0:
        return None
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


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
                extent = _support_extent(g.detach().abs().sum((0, 1)) > 0)
                if extent is None:
                    return None
                fields.append(extent)
    finally:
        handle.remove()
    (_, r0_hi, _, c0_hi), (r1_lo, _, c1_lo, _) = fields
    fy = float(r0_hi + r1_lo) if (r0_hi < size[0] - 1 and r1_lo > 0 and h > 1) else None
    fx = float(c0_hi + c1_lo) if (c0_hi < size[1] - 1 and c1_lo > 0 and w > 1) else None
    return (h, w), fy, fx
