"""Receptive fields by layer arithmetic: which input rows and columns each grid cell of a layer sees.

:func:`field_edges` runs the network once on shape-only (``meta``) tensors under a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` that computes no values: each aten op's
output shape is worked out here, and every tensor carries, per spatial axis of the input, the
interval of input rows (columns) each of its cells depends on. A convolution or pooling window
takes the union of the valid taps' intervals (padding and the rows a floor division drops reach
nothing, as in the gradient), elementwise ops, residual additions and channel concatenations take
the union of their operands', a reduction over an axis (global pooling, squeeze-and-excitation,
layer/group norm over space, attention) makes every element depend on the whole axis. That is the
support of the gradient the probe of :mod:`engine.explainers.alignment` measures, wherever every
weight and every max-pool position of the field can carry gradient, without a forward or backward
on real data: tens of microseconds per op instead of seconds per network.

An op this module does not know (upsampling, indexing, a transposed convolution ...) runs on the
meta tensors for its shape and marks what it produces as unknown; when that reaches the target
layer (or the forward fails on shape-only tensors), :func:`field_edges` raises
:class:`UnsupportedOp` naming the op, and the caller measures with the probe instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from engine.explainers.field_ops import VIEWS, handler, tensor_args
from engine.explainers.field_types import Field, Meta, Unknown, one_cell


class UnsupportedOp(Exception):
    """The layer's fields cannot be derived by arithmetic (the reason names the op); probe instead."""


class _FieldMode(TorchDispatchMode):
    """Computes shapes and fields of every op; no values."""

    def __init__(self) -> None:
        super().__init__()
        self.metas: dict[int, tuple[torch.Tensor, Meta]] = {}
        self.roots: dict[int, int] = {}  # a view (or a viewed tensor) -> the tensor whose storage it shares
        self.families: dict[int, list[torch.Tensor]] = {}  # that tensor -> all tensors sharing its storage

    # -- bookkeeping -------------------------------------------------------------------------------------
    def meta(self, t: torch.Tensor) -> Meta:
        got = self.metas.get(id(t))
        if got is not None and got[0] is t:
            return got[1]
        return Meta((None,) * t.ndim)

    def put(self, t: torch.Tensor, m: Meta) -> torch.Tensor:
        if m.is_const():
            self.metas.pop(id(t), None)
            if t.device.type != "meta":
                return t
        self.metas[id(t)] = (t, m)
        return t

    def alias(self, base: torch.Tensor, views: list[torch.Tensor]) -> None:
        """``views`` share ``base``'s storage (the outputs here are fresh tensors: aliasing is modelled)."""
        root = self.roots.setdefault(id(base), id(base))
        family = self.families.setdefault(root, [base])
        for v in views:
            self.roots[id(v)] = root
            family.append(v)

    def wrote(self, t: torch.Tensor, what: str) -> None:
        """``t`` was written in place: what every other tensor sharing its storage depends on is unknown."""
        root = self.roots.get(id(t))
        for other in self.families.get(root, []) if root is not None else []:
            if other is not t:
                self.metas[id(other)] = (other, Meta((None,) * other.ndim, unknown=what))

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        tensors = tensor_args(args, kwargs)
        metas = [self.meta(t) for t in tensors]
        if all(m.is_const() for m in metas):
            if func._schema.is_mutable or any(t.device.type == "meta" for t in tensors) \
                    or kwargs.get("device") == torch.device("meta"):
                out = self._run_meta(func, args, kwargs)  # never writes into the model's own tensors
            else:
                out = func(*args, **kwargs)  # constants only (weights, buffers): computed for real
        else:
            out = self._dispatch(func, name, args, kwargs, metas)
        if name in VIEWS and tensors:
            self.alias(tensors[0], tensor_args((out,), {}))
        return out

    def _dispatch(self, func: Any, name: str, args: Any, kwargs: dict[str, Any], metas: list[Meta]) -> Any:
        unknown = next((m.unknown for m in metas if m.unknown), None)
        if unknown is None:
            run = handler(func)
            if run is not None:
                try:
                    return run(self, func, list(args), kwargs)
                except Unknown as err:
                    unknown = f"{name} ({err})"
            else:
                unknown = name
        out = self._run_meta(func, args, kwargs)
        for t in tensor_args((out,), {}):
            self.put(t, Meta((None,) * t.ndim, unknown=unknown))
        return out

    def _run_meta(self, func: Any, args: Any, kwargs: Any) -> Any:
        """``func`` on shape-only copies of its arguments (its meta kernel: only for its output's shape)."""
        def to_meta(t: Any) -> Any:
            if isinstance(t, torch.Tensor):
                return t if t.device.type == "meta" else t.to("meta")
            if isinstance(t, (list, tuple)):
                return type(t)(to_meta(u) for u in t)
            return t

        kwargs = {k: to_meta(v) for k, v in kwargs.items()}
        if "device" in kwargs:
            kwargs["device"] = torch.device("meta")
        return func(*(to_meta(a) for a in args), **kwargs)


class _Seen:
    """The target layer's last output (as the probe reads it)."""

    def __init__(self) -> None:
        self.out: Any = None

    def __call__(self, _m: nn.Module, _i: Any, out: Any) -> None:
        self.out = out[0] if isinstance(out, (tuple, list)) else out


def _fields(
    module: nn.Module, target: nn.Module, shape: tuple[int, ...]
) -> tuple[tuple[int, int], Field, Field] | None:
    """Run ``module`` on a shape-only input of ``shape`` (N, C, H, W): the target's (h, w) and row/column
    fields; None when its output is not a 4-D tensor (no grid, as the probe concludes)."""
    mode = _FieldMode()
    h_in, w_in = shape[-2], shape[-1]
    x = torch.empty(shape, device="meta")
    rows, cols = np.arange(h_in, dtype=np.float64), np.arange(w_in, dtype=np.float64)
    seen = _Seen()
    handle = target.register_forward_hook(seen)
    try:
        with torch.no_grad(), mode:
            mode.put(x, Meta((None, None, Field(0, rows, rows), Field(1, cols, cols))))
            try:
                module(x)
            except Exception as err:  # a forward that needs values (.item(), data-dependent shapes), or a gap here
                raise UnsupportedOp(f"the forward failed on shape-only tensors ({type(err).__name__}: {err})"[:200]) \
                    from err
    finally:
        handle.remove()
    a = seen.out
    if not isinstance(a, torch.Tensor) or a.ndim != 4:
        return None
    m = mode.meta(a)
    if m.unknown:
        raise UnsupportedOp(f"op {m.unknown} is not covered by the layer arithmetic")
    fy, fx = (one_cell(axis) if d is None and a.shape[-2 + axis] == 1 else d for axis, d in enumerate(m.dims[-2:]))
    if not (isinstance(fy, Field) and fy.axis == 0 and isinstance(fx, Field) and fx.axis == 1):
        raise UnsupportedOp("the layer's grid is not its last two dimensions (rows, columns)")
    # what every element sees (a broadcast gate, a dimension reduced away) adds to each cell's field
    if m.whole[0] is not None:
        fy = Field(0, np.minimum(fy.lo, m.whole[0][0]), np.maximum(fy.hi, m.whole[0][1]))
    if m.whole[1] is not None:
        fx = Field(1, np.minimum(fx.lo, m.whole[1][0]), np.maximum(fx.hi, m.whole[1][1]))
    return (int(a.shape[-2]), int(a.shape[-1])), fy, fx


def field_edges(
    module: nn.Module, target: nn.Module, channels: int, size: tuple[int, int]
) -> tuple[tuple[int, int], float | None, float | None] | None:
    """As the probe's ``_field_edges``, by arithmetic: the grid, and per axis ``last row of cell 0's
    field + first row of the last cell's field`` (None where fields reach both borders); None when the
    layer has no 2-D grid or a probed cell sees nothing.

    Raises:
        UnsupportedOp: An op on the way to the layer is not known here (the reason names it).
    """
    got = _fields(module, target, (2, channels, *size))
    if got is None:
        return None
    (h, w), fy, fx = got
    edges = []
    for f, n, cells in ((fy, size[0], h), (fx, size[1], w)):
        lo0, hi0, lo1 = f.lo[0], f.hi[0], f.lo[-1]
        if not (math.isfinite(lo0) and math.isfinite(lo1)):
            return None
        edges.append(float(hi0 + lo1) if (hi0 < n - 1 and lo1 > 0 and cells > 1) else None)
    return (h, w), edges[0], edges[1]
