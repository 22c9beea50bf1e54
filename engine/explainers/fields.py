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
on real data: a few milliseconds per op instead of seconds per network.

An op this module does not know (upsampling, indexing, a transposed convolution ...) runs on the
meta tensors for its shape and marks what it produces as unknown; when that reaches the target
layer (or the forward fails on shape-only tensors), :func:`field_edges` raises
:class:`UnsupportedOp` naming the op, and the caller measures with the probe instead.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["UnsupportedOp", "field_edges"]

_INF = float("inf")


class UnsupportedOp(Exception):
    """The layer's fields cannot be derived by arithmetic (the reason names the op); probe instead."""


@dataclass(frozen=True)
class _Field:
    """Per cell of one tensor dimension: the first and last input row (``axis`` 0) or column (1) it sees."""

    axis: int
    lo: np.ndarray  # +inf where a cell sees nothing
    hi: np.ndarray  # -inf where a cell sees nothing

    def span(self) -> tuple[float, float]:
        return float(self.lo.min()), float(self.hi.max())


@dataclass(frozen=True)
class _Merged:
    """Several dimensions viewed as one (``x.view(N*H*W, C)`` in a Linear on channels-last maps)."""

    parts: tuple[tuple[int, _Field | None], ...]  # (size, field) in order, sizes > 1


_Dim = _Field | _Merged | None
_Whole = tuple[tuple[float, float] | None, tuple[float, float] | None]


@dataclass(frozen=True)
class _Meta:
    """What one tensor depends on: per dimension, and per axis for every element alike (``whole``)."""

    dims: tuple[_Dim, ...]
    whole: _Whole = (None, None)
    unknown: str | None = None  # the op that made the dependence unknown

    def is_const(self) -> bool:
        """Depends on no input pixel (weights, buffers, factories)."""
        return self.unknown is None and self.whole == (None, None) and self.dims.count(None) == len(self.dims)


def _span_union(a: tuple[float, float] | None, b: tuple[float, float] | None) -> tuple[float, float] | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1])


def _whole_union(*wholes: _Whole) -> _Whole:
    y: tuple[float, float] | None = None
    x: tuple[float, float] | None = None
    for w in wholes:
        y, x = _span_union(y, w[0]), _span_union(x, w[1])
    return y, x


def _absorb(whole: _Whole, dim: _Dim) -> _Whole:
    """``whole`` plus everything ``dim`` depends on (the dimension is reduced, normalised over, dropped)."""
    if dim is None:
        return whole
    fields = [dim] if isinstance(dim, _Field) else [f for _, f in dim.parts if f is not None]
    out = list(whole)
    for f in fields:
        out[f.axis] = _span_union(out[f.axis], f.span())
    return out[0], out[1]


class _Unknown(Exception):
    """Raised inside a handler: the op's dependence cannot be expressed (the op runs for its shape)."""


def _union_dims(a: _Dim, b: _Dim) -> _Dim:
    if a is None or a is b:
        return b
    if b is None:
        return a
    if isinstance(a, _Field) and isinstance(b, _Field) and a.axis == b.axis and a.lo.shape == b.lo.shape:
        return _Field(a.axis, np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))
    if isinstance(a, _Merged) and isinstance(b, _Merged) and \
            [(s, f.axis if f else None) for s, f in a.parts] == [(s, f.axis if f else None) for s, f in b.parts]:
        return _Merged(tuple((s, _union_dims(fa, fb)) for (s, fa), (_, fb) in zip(a.parts, b.parts, strict=True)))  # type: ignore[misc]
    raise _Unknown("operands' grids do not line up")


@functools.lru_cache(maxsize=512)
def _taps(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, int, int]:
    """Indices into the input padded by ``left``/``right`` empty cells: ``s*i - p + d*t + left``."""
    idx = s * np.arange(n_out)[:, None] - p + d * np.arange(k)[None, :]
    left = max(0, -int(idx.min()))
    right = max(0, int(idx.max()) - n_in + 1)
    return idx + left, left, right


@functools.lru_cache(maxsize=64)
def _fill_inf(n: int) -> np.ndarray:
    return np.full(n, _INF)


def _window(f: _Field, n_out: int, k: int, s: int, p: int, d: int) -> _Field:
    """Cell ``i`` of a sliding window sees input cells ``s*i - p + d*t`` (``t < k``) that exist."""
    n_in = f.lo.shape[0]
    if k == 1 and s == 1 and p == 0 and n_out == n_in:
        return f
    idx, left, right = _taps(n_in, n_out, k, s, p, d)
    if left or right:
        lo = np.concatenate((_fill_inf(left), f.lo, _fill_inf(right)))
        hi = np.concatenate((-_fill_inf(left), f.hi, -_fill_inf(right)))
    else:
        lo, hi = f.lo, f.hi
    return _Field(f.axis, lo[idx].min(1), hi[idx].max(1))


def _adaptive(f: _Field, n_out: int) -> _Field:
    n = f.lo.shape[0]
    lo, hi = np.empty(n_out), np.empty(n_out)
    for i in range(n_out):
        a, b = (i * n) // n_out, -((-(i + 1) * n) // n_out)
        lo[i], hi[i] = f.lo[a:b].min(), f.hi[a:b].max()
    return _Field(f.axis, lo, hi)


def _pooled_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = n + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pair(v: Any, n: int, default: int | None = None) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return [int(default if default is not None else 0)] * n
    if isinstance(v, int):
        return [v] * n
    v = [int(u) for u in v]
    return v * n if len(v) == 1 else v


def _regroup(parts: list[tuple[int, _Dim]], sizes: Sequence[int]) -> list[_Dim]:
    """Lay ``parts`` (size, field) out over new dimensions of ``sizes`` (all > 1); only unfielded
    parts may be cut."""
    out: list[_Dim] = []
    queue = list(parts)
    for size in sizes:
        got: list[tuple[int, _Field | None]] = []
        prod = 1
        while prod < size:
            if not queue:
                raise _Unknown("view")
            n, f = queue.pop(0)
            if prod * n > size:  # cut this part
                need = size // prod
                if f is not None or size % prod or n % need:
                    raise _Unknown("view splits a spatial axis")
                queue.insert(0, (n // need, None))
                n = need
            if isinstance(f, _Merged):
                got.extend(f.parts)
            else:
                got.append((n, f))
            prod *= n
        if prod != size:
            raise _Unknown("view")
        fields = [(n, f) for n, f in got if n > 1]
        if len(fields) == 1:
            out.append(fields[0][1])
        elif any(f is not None for _, f in fields):
            out.append(_Merged(tuple(fields)))
        else:
            out.append(None)
    if any(f is not None for _, f in queue):
        raise _Unknown("view")
    return out


def _norm_dims(dims: Any, ndim: int) -> list[int]:
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    return [d % ndim if ndim else 0 for d in dims]


def _empty(shape: Sequence[int], like: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    dtype = dtype or (like.dtype if like is not None else torch.float32)
    return torch.empty(tuple(int(s) for s in shape), dtype=dtype, device="meta")


_A = torch.ops.aten

#: Elementwise ops (besides those tagged pointwise): their output cell depends on the same cells of each operand.
_POINTWISE = {
    "add", "sub", "mul", "div", "rsub", "where", "masked_fill", "hardswish", "hardswish_", "hardtanh", "hardtanh_",
    "hardsigmoid", "hardsigmoid_", "clone", "_to_copy", "detach", "alias", "lift_fresh", "lift_fresh_copy",
    "maximum", "minimum", "pow", "clamp", "clamp_min", "clamp_max", "threshold", "leaky_relu", "leaky_relu_",
    "elu", "elu_", "mish", "mish_", "softplus", "gelu", "gelu_", "silu", "silu_", "relu", "relu_", "sigmoid",
    "sigmoid_", "tanh", "tanh_", "add_", "mul_", "sub_", "div_", "addcmul", "addcdiv", "lerp", "prelu",
    "_prelu_kernel", "dropout", "contiguous", "_unsafe_view_copy", "exp", "log", "sqrt",
    "rsqrt", "neg", "abs", "reciprocal", "square", "erf", "copy",
}
#: View ops whose output is a new view of an operand (an in-place op on it would escape the tracking).
_VIEWS = {"view", "_unsafe_view", "reshape", "permute", "t", "transpose", "unsqueeze", "squeeze", "expand",
          "slice", "select", "split", "split_with_sizes", "unbind", "alias", "as_strided", "narrow", "unflatten",
          "flatten", "view_as", "expand_as", "movedim", "chunk"}


class _FieldMode(TorchDispatchMode):
    """Computes shapes and fields of every op; no values."""

    def __init__(self) -> None:
        super().__init__()
        self.metas: dict[int, tuple[torch.Tensor, _Meta]] = {}
        self.views: set[int] = set()
        self.broken: str | None = None  # an in-place op on a view: every answer is suspect

    # -- bookkeeping -------------------------------------------------------------------------------------
    def meta(self, t: torch.Tensor) -> _Meta:
        got = self.metas.get(id(t))
        if got is not None and got[0] is t:
            return got[1]
        return _Meta((None,) * t.ndim)

    def put(self, t: torch.Tensor, m: _Meta) -> torch.Tensor:
        if m.is_const():
            self.metas.pop(id(t), None)
            if t.device.type != "meta":
                return t
        self.metas[id(t)] = (t, m)
        return t

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = _tensors(args, kwargs)
        metas = [self.meta(t) for t in tensors]
        if all(m.is_const() for m in metas):
            if any(t.device.type == "meta" for t in tensors) or kwargs.get("device") == torch.device("meta"):
                return self._run_meta(func, args, kwargs)
            return func(*args, **kwargs)  # constants only (weights, buffers): computed for real
        name = func.overloadpacket.__name__
        unknown = next((m.unknown for m in metas if m.unknown), None)
        if unknown is None:
            handler = _handler(func)
            if handler is not None:
                try:
                    out = handler(self, func, list(args), kwargs)
                    if name in _VIEWS:
                        self.views.update(id(t) for t in tensors[:1])
                        self.views.update(id(t) for t in _tensors((out,), {}))
                    return out
                except _Unknown as err:
                    unknown = f"{name} ({err})"
            else:
                unknown = name
        out = self._run_meta(func, args, kwargs)
        for t in _tensors((out,), {}):
            self.put(t, _Meta((None,) * t.ndim, unknown=unknown))
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


def _tensors(args: Sequence[Any], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """The tensors among an op's arguments (aten ops nest them at most in one list)."""
    out = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, torch.Tensor))
    return out


@functools.lru_cache(maxsize=1024)
def _handler(func: Any) -> _Handler | None:
    name = func.overloadpacket.__name__
    handler = _HANDLERS.get(name)
    if handler is None and (torch.Tag.pointwise in func.tags or name in _POINTWISE):
        handler = _pointwise
    return handler


def _broadcast_shape(shapes: Sequence[Sequence[int]]) -> list[int]:
    nd = max(len(s) for s in shapes)
    out = [1] * nd
    for s in shapes:
        for i, n in enumerate(s, nd - len(s)):
            if n != 1:
                if out[i] not in (1, n):
                    raise _Unknown("shapes do not broadcast")
                out[i] = int(n)
    return out


# -- handlers: (mode, func, args, kwargs) -> output; they set the outputs' metas ------------------------------
_Handler = Callable[[_FieldMode, Any, list[Any], dict[str, Any]], Any]
_HANDLERS: dict[str, _Handler] = {}


def _handles(*names: str) -> Callable[[_Handler], _Handler]:
    def deco(fn: _Handler) -> _Handler:
        for n in names:
            _HANDLERS[n] = fn
        return fn
    return deco


def _broadcast(mode: _FieldMode, tensors: list[torch.Tensor], shape: Sequence[int]) -> _Meta:
    """The union of ``tensors``' metas broadcast to ``shape``."""
    nd = len(shape)
    dims: list[_Dim] = [None] * nd
    wholes: list[_Whole] = []
    for t in tensors:
        m = mode.meta(t)
        wholes.append(m.whole)
        off = nd - t.ndim
        for i, d in enumerate(m.dims):
            if d is None:
                continue
            if t.shape[i] == shape[off + i]:
                dims[off + i] = _union_dims(dims[off + i], d)
            else:  # a size-1 dimension broadcast: every element sees it
                wholes.append(_absorb((None, None), d))
    return _Meta(tuple(dims), _whole_union(*wholes))


def _pointwise(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    tensors = _tensors(args, kwargs)
    shape = _broadcast_shape([t.shape for t in tensors])
    name = func.overloadpacket.__name__
    meta = _broadcast(mode, tensors, shape)
    if name.endswith("_") and isinstance(args[0], torch.Tensor):  # in place: the first operand is the output
        first = args[0]
        if id(first) in mode.views and any(not mode.meta(t).is_const() for t in tensors[1:]):
            mode.broken = mode.broken or f"{name} on a view"
        if tuple(first.shape) != tuple(shape):
            raise _Unknown("in-place broadcast")
        return mode.put(first, meta)
    return mode.put(_empty(shape, tensors[0]), meta)


@_handles("zero_", "fill_")
def _fill(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return _pointwise(mode, func, args, kwargs)
    return mode.put(args[0], _Meta((None,) * args[0].ndim))


@_handles("convolution")
def _conv(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, w, bias, stride, padding, dilation, transposed = args[:7]
    if transposed:
        raise _Unknown("transposed")
    if not mode.meta(w).is_const() or (bias is not None and not mode.meta(bias).is_const()):
        raise _Unknown("input-dependent weights")
    nd = w.ndim - 2
    m = mode.meta(x)
    ks = list(w.shape[2:])
    st, pd, dl = _pair(stride, nd, 1), _pair(padding, nd), _pair(dilation, nd, 1)
    sp = list(x.shape[-nd:])
    out_sp = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(sp, ks, st, pd, dl, strict=True)]
    lead = list(x.shape[:-nd - 1])
    dims = list(m.dims)
    whole = _absorb(m.whole, dims[-nd - 1])  # channels are summed over
    new: list[_Dim] = [*dims[:-nd - 1], None]
    for i in range(nd):
        d = dims[-nd + i]
        if isinstance(d, _Merged):
            raise _Unknown("merged spatial axis")
        new.append(_window(d, out_sp[i], ks[i], st[i], pd[i], dl[i]) if d is not None else None)
    return mode.put(_empty([*lead, int(w.shape[0]), *out_sp], x), _Meta(tuple(new), whole))


def _pool(mode: _FieldMode, x: torch.Tensor, k: list[int], s: list[int], p: list[int], d: list[int],
          ceil: bool) -> tuple[torch.Tensor, _Meta]:
    m = mode.meta(x)
    sp = list(x.shape[-2:])
    out_sp = [_pooled_size(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate(sp)]
    dims = list(m.dims)
    for i in range(2):
        f = dims[-2 + i]
        if isinstance(f, _Merged):
            raise _Unknown("merged spatial axis")
        dims[-2 + i] = _window(f, out_sp[i], k[i], s[i], p[i], d[i]) if f is not None else None
    return _empty([*x.shape[:-2], *out_sp], x), _Meta(tuple(dims), m.whole)


@_handles("max_pool2d_with_indices", "max_pool2d")
def _maxpool(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    k = _pair(args[1], 2)
    s = _pair(args[2], 2) if len(args) > 2 and args[2] else k
    p = _pair(args[3] if len(args) > 3 else 0, 2)
    d = _pair(args[4] if len(args) > 4 else 1, 2, 1)
    ceil = bool(args[5]) if len(args) > 5 else bool(kwargs.get("ceil_mode", False))
    out, meta = _pool(mode, x, k, s, p, d, ceil)
    mode.put(out, meta)
    if func.overloadpacket.__name__ == "max_pool2d":
        return out
    return out, _empty(out.shape, dtype=torch.int64)


@_handles("avg_pool2d")
def _avgpool(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    k = _pair(args[1], 2)
    s = _pair(args[2], 2) if len(args) > 2 and args[2] else k
    p = _pair(args[3] if len(args) > 3 else 0, 2)
    ceil = bool(args[4]) if len(args) > 4 else bool(kwargs.get("ceil_mode", False))
    out, meta = _pool(mode, x, k, s, p, [1, 1], ceil)
    return mode.put(out, meta)


@_handles("_adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d")
def _adaptive_pool(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], _pair(args[1], 2)
    m = mode.meta(x)
    dims = list(m.dims)
    for i in range(2):
        f = dims[-2 + i]
        if isinstance(f, _Merged):
            raise _Unknown("merged spatial axis")
        dims[-2 + i] = _adaptive(f, size[i]) if f is not None else None
    out = mode.put(_empty([*x.shape[:-2], *size], x), _Meta(tuple(dims), m.whole))
    if func.overloadpacket.__name__ == "adaptive_max_pool2d":
        return out, _empty(out.shape, dtype=torch.int64)
    return out


def _reduce_meta(m: _Meta, red: list[int], keep: bool) -> _Meta:
    whole = m.whole
    dims: list[_Dim] = []
    for i, d in enumerate(m.dims):
        if i in red:
            whole = _absorb(whole, d)
            if keep:
                dims.append(None)
        else:
            dims.append(d)
    return _Meta(tuple(dims), whole)


@_handles("mean", "sum", "amax", "amin", "var", "std", "max", "min", "logsumexp", "norm", "linalg_vector_norm")
def _reduce(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    overload = func._overloadname
    name = func.overloadpacket.__name__
    if name in ("max", "min") and overload not in ("dim", "default"):
        raise _Unknown("binary max/min")
    if name in ("norm", "linalg_vector_norm"):
        dims_arg = args[2] if len(args) > 2 else kwargs.get("dim")
        keep = bool(args[3]) if len(args) > 3 else bool(kwargs.get("keepdim", False))
    elif overload == "default" or len(args) < 2:
        dims_arg, keep = kwargs.get("dim"), bool(kwargs.get("keepdim", False))
    else:
        dims_arg = args[1]
        keep = bool(args[2]) if len(args) > 2 and isinstance(args[2], bool) else bool(kwargs.get("keepdim", False))
    red = _norm_dims(dims_arg, x.ndim)
    shape = [(1 if i in red else n) for i, n in enumerate(x.shape) if keep or i not in red]
    meta = _reduce_meta(mode.meta(x), red, keep)
    out = mode.put(_empty(shape, x), meta)
    if name in ("max", "min") and overload == "dim":
        return out, _empty(shape, dtype=torch.int64)
    return out


@_handles("cat")
def _cat(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    tensors = [t for t in args[0] if t.numel() > 0 or t.ndim > 1]
    dim = int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0))
    dim %= tensors[0].ndim
    shape = list(tensors[0].shape)
    shape[dim] = sum(int(t.shape[dim]) for t in tensors)
    dims: list[_Dim] = [None] * len(shape)
    wholes: list[_Whole] = []
    for t in tensors:
        m = mode.meta(t)
        wholes.append(m.whole)
        for i, d in enumerate(m.dims):
            if i == dim:
                if d is not None:
                    raise _Unknown("along a spatial axis")
                continue
            dims[i] = _union_dims(dims[i], d)
    return mode.put(_empty(shape, tensors[0]), _Meta(tuple(dims), _whole_union(*wholes)))


@_handles("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
          "native_group_norm", "native_layer_norm")
def _norm(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    m = mode.meta(x)
    if name == "native_layer_norm":
        n = len(args[1])
        red = list(range(x.ndim - n, x.ndim))
        stats_shape = [*x.shape[:x.ndim - n], *([1] * n)]
    elif name == "native_group_norm":
        red = list(range(1, x.ndim))
        stats_shape = [int(x.shape[0]), int(args[6])]
    else:
        training = bool(args[5]) if name != "_native_batch_norm_legit_no_training" else False
        red = [0, *range(2, x.ndim)] if training else []
        stats_shape = [int(x.shape[1])]
    whole = m.whole
    for i in red:  # each element sees all it is normalised over (its own cell's field stays a part of that)
        whole = _absorb(whole, m.dims[i])
    out = mode.put(_empty(x.shape, x), _Meta(m.dims, whole))
    kept = x.ndim - len(red) if name == "native_layer_norm" else 0  # layer norm's statistics keep the leading dims
    stats = _Meta(tuple(m.dims[i] if i < kept else None for i in range(len(stats_shape))), whole)
    s1, s2 = _empty(stats_shape, x), _empty(stats_shape, x)
    mode.put(s1, stats)
    mode.put(s2, stats)
    return out, s1, s2


@_handles("_softmax", "_log_softmax", "softmax", "log_softmax", "cumsum")
def _softmax(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim = args[0], int(args[1]) % max(args[0].ndim, 1)
    m = mode.meta(x)
    return mode.put(_empty(x.shape, x), _Meta(m.dims, _absorb(m.whole, m.dims[dim])))


def _matmul_meta(mode: _FieldMode, a: torch.Tensor, b: torch.Tensor, batch: bool) -> tuple[list[int], _Meta]:
    ma, mb = mode.meta(a), mode.meta(b)
    whole = _whole_union(ma.whole, mb.whole)
    whole = _absorb(_absorb(whole, ma.dims[-1]), mb.dims[-2])  # the contracted dimension
    dims: list[_Dim] = []
    if batch:
        dims.append(_union_dims(ma.dims[0], mb.dims[0]))
    dims += [ma.dims[-2], mb.dims[-1]]
    shape = [*([int(a.shape[0])] if batch else []), int(a.shape[-2]), int(b.shape[-1])]
    return shape, _Meta(tuple(dims), whole)


@_handles("mm", "bmm")
def _mm(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    shape, meta = _matmul_meta(mode, args[0], args[1], func.overloadpacket.__name__ == "bmm")
    return mode.put(_empty(shape, args[0]), meta)


@_handles("addmm", "baddbmm")
def _addmm(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    bias, a, b = args[:3]
    shape, meta = _matmul_meta(mode, a, b, func.overloadpacket.__name__ == "baddbmm")
    out = mode.put(_empty(shape, a), meta)
    full = _broadcast(mode, [out, bias], shape)
    return mode.put(out, full)


@_handles("view", "_unsafe_view", "reshape", "view_copy", "_reshape_alias")
def _view(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], [int(s) for s in args[1]]
    if -1 in size:
        known = math.prod(s for s in size if s != -1)
        size[size.index(-1)] = x.numel() // known if known else 0
    m = mode.meta(x)
    whole = m.whole
    parts: list[tuple[int, _Dim]] = []
    for n, d in zip(x.shape, m.dims, strict=True):
        if n == 1:
            whole = _absorb(whole, d)
        elif isinstance(d, _Merged):
            parts.extend(d.parts)
        else:
            parts.append((int(n), d))
    big = [s for s in size if s != 1]
    laid = iter(_regroup(parts, big))
    dims = tuple(None if s == 1 else next(laid) for s in size)
    return mode.put(_empty(size, x), _Meta(dims, whole))


@_handles("permute", "t", "transpose", "movedim")
def _permute(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    order = list(range(x.ndim))
    if name == "permute":
        order = [int(d) % x.ndim for d in args[1]]
    elif x.ndim >= 2:
        a, b = (0, 1) if name == "t" else (int(args[1]) % x.ndim, int(args[2]) % x.ndim)
        if name == "movedim":
            order.insert(b, order.pop(a))
        else:
            order[a], order[b] = order[b], order[a]
    m = mode.meta(x)
    return mode.put(_empty([x.shape[i] for i in order], x), _Meta(tuple(m.dims[i] for i in order), m.whole))


@_handles("unsqueeze")
def _unsqueeze(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim = args[0], int(args[1]) % (args[0].ndim + 1)
    m = mode.meta(x)
    shape, dims = list(x.shape), list(m.dims)
    shape.insert(dim, 1)
    dims.insert(dim, None)
    return mode.put(_empty(shape, x), _Meta(tuple(dims), m.whole))


@_handles("squeeze")
def _squeeze(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    drop = _norm_dims(args[1] if len(args) > 1 else None, x.ndim)
    drop = [d for d in drop if x.shape[d] == 1]
    return mode.put(_empty([n for i, n in enumerate(x.shape) if i not in drop], x),
                    _reduce_meta(mode.meta(x), drop, keep=False))


@_handles("expand")
def _expand(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], [int(s) for s in args[1]]
    off = len(size) - x.ndim
    shape = [x.shape[i - off] if s == -1 else s for i, s in enumerate(size)]
    return mode.put(_empty(shape, x), _broadcast(mode, [x], shape))


@_handles("slice")
def _slice(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dim = int(args[1]) % x.ndim if len(args) > 1 else 0
    start = args[2] if len(args) > 2 else None
    end = args[3] if len(args) > 3 else None
    step = int(args[4]) if len(args) > 4 else 1
    keep = range(int(x.shape[dim]))[slice(start, end, step)]
    m = mode.meta(x)
    dims = list(m.dims)
    d = dims[dim]
    if isinstance(d, _Merged):
        raise _Unknown("slice of merged axes")
    if isinstance(d, _Field):
        idx = np.asarray(keep, dtype=np.int64)
        dims[dim] = _Field(d.axis, d.lo[idx], d.hi[idx])
    shape = list(x.shape)
    shape[dim] = len(keep)
    return mode.put(_empty(shape, x), _Meta(tuple(dims), m.whole))


@_handles("select")
def _select(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim, index = args[0], int(args[1]) % args[0].ndim, int(args[2])
    m = mode.meta(x)
    d = m.dims[dim]
    if isinstance(d, _Merged):
        raise _Unknown("select of merged axes")
    whole = m.whole
    if isinstance(d, _Field):
        one = _Field(d.axis, d.lo[index:index + 1 or None], d.hi[index:index + 1 or None])
        whole = _absorb(whole, one)
    dims = tuple(v for i, v in enumerate(m.dims) if i != dim)
    return mode.put(_empty([n for i, n in enumerate(x.shape) if i != dim], x), _Meta(dims, whole))


@_handles("constant_pad_nd", "reflection_pad2d", "replication_pad2d", "reflection_pad1d", "replication_pad1d")
def _pad(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, pad = args[0], [int(p) for p in args[1]]
    name = func.overloadpacket.__name__
    m = mode.meta(x)
    dims, shape = list(m.dims), list(x.shape)
    for j in range(len(pad) // 2):
        i = x.ndim - 1 - j
        left, right = pad[2 * j], pad[2 * j + 1]
        n = int(x.shape[i])
        shape[i] = n + left + right
        d = dims[i]
        if isinstance(d, _Merged):
            raise _Unknown("pad of merged axes")
        if d is None:
            continue
        src = np.arange(shape[i]) - left
        if name.startswith("reflection"):
            src = np.abs(src)
            src = np.where(src > n - 1, 2 * (n - 1) - src, src)
        elif name.startswith("replication"):
            src = np.clip(src, 0, n - 1)
        valid = (src >= 0) & (src < n)
        safe = np.clip(src, 0, n - 1)
        dims[i] = _Field(d.axis, np.where(valid, d.lo[safe], _INF), np.where(valid, d.hi[safe], -_INF))
    return mode.put(_empty(shape, x), _Meta(tuple(dims), m.whole))


@_handles("split", "split_with_sizes")
def _split(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, sizes = args[0], args[1]
    dim = int(args[2]) % x.ndim if len(args) > 2 else int(kwargs.get("dim", 0)) % x.ndim
    n = int(x.shape[dim])
    if isinstance(sizes, int):
        sizes = [min(sizes, n - i) for i in range(0, n, sizes)] if sizes else [n]
    outs, start = [], 0
    for s in sizes:
        outs.append(_slice(mode, func, [x, dim, start, start + int(s), 1], {}))
        start += int(s)
    return outs


@_handles("unbind")
def _unbind(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dim = int(args[1]) % x.ndim if len(args) > 1 else 0
    return [_select(mode, func, [x, dim, i], {}) for i in range(int(x.shape[dim]))]


@_handles("copy_")
def _copy(mode: _FieldMode, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    dst, src = args[0], args[1]
    if id(dst) in mode.views:
        mode.broken = mode.broken or "copy_ into a view"
    return mode.put(dst, _broadcast(mode, [src], dst.shape))


def _one_cell(axis: int) -> _Field:
    """A grid of one cell along ``axis`` whose field is only what every element sees (``whole``)."""
    return _Field(axis, np.array([_INF]), np.array([-_INF]))


class _Seen:
    """The target layer's last output (as the probe reads it)."""

    def __init__(self) -> None:
        self.out: Any = None

    def __call__(self, _m: nn.Module, _i: Any, out: Any) -> None:
        self.out = out[0] if isinstance(out, (tuple, list)) else out


def _fields(module: nn.Module, target: nn.Module, shape: tuple[int, ...]) -> tuple[tuple[int, int], _Field, _Field]:
    """Run ``module`` on a shape-only input of ``shape`` (N, C, H, W); the target's (h, w) and row/column fields."""
    mode = _FieldMode()
    h_in, w_in = shape[-2], shape[-1]
    x = torch.empty(shape, device="meta")
    rows, cols = np.arange(h_in, dtype=np.float64), np.arange(w_in, dtype=np.float64)
    seen = _Seen()
    handle = target.register_forward_hook(seen)
    collecting = gc.isenabled()
    gc.disable()  # thousands of small objects: a full collection in the middle would cost more than the pass
    try:
        with torch.no_grad(), mode:
            mode.put(x, _Meta((None, None, _Field(0, rows, rows), _Field(1, cols, cols))))
            try:
                module(x)
            except UnsupportedOp:
                raise
            except Exception as err:  # a forward that needs values (.item(), data-dependent shapes)
                raise UnsupportedOp(f"the forward needs real values ({type(err).__name__}: {err})"[:200]) from err
    finally:
        handle.remove()
        if collecting:
            gc.enable()
    a = seen.out
    if not isinstance(a, torch.Tensor):
        raise UnsupportedOp("the layer's output is not a tensor")
    if mode.broken:
        raise UnsupportedOp(f"{mode.broken} is not covered by the layer arithmetic")
    m = mode.meta(a)
    if m.unknown:
        raise UnsupportedOp(f"op {m.unknown} is not covered by the layer arithmetic")
    if a.ndim != 4:
        raise UnsupportedOp("the layer's output is not 4-D")
    fy, fx = (_one_cell(axis) if d is None and a.shape[-2 + axis] == 1 else d for axis, d in enumerate(m.dims[-2:]))
    if not (isinstance(fy, _Field) and fy.axis == 0 and isinstance(fx, _Field) and fx.axis == 1):
        raise UnsupportedOp("the layer's grid is not its last two dimensions (rows, columns)")
    # what every element sees (a broadcast gate, a dimension reduced away) adds to each cell's field
    if m.whole[0] is not None:
        fy = _Field(0, np.minimum(fy.lo, m.whole[0][0]), np.maximum(fy.hi, m.whole[0][1]))
    if m.whole[1] is not None:
        fx = _Field(1, np.minimum(fx.lo, m.whole[1][0]), np.maximum(fx.hi, m.whole[1][1]))
    return (int(a.shape[-2]), int(a.shape[-1])), fy, fx


def field_edges(
    module: nn.Module, target: nn.Module, channels: int, size: tuple[int, int]
) -> tuple[tuple[int, int], float | None, float | None] | None:
    """As the probe's ``_field_edges``, by arithmetic: the grid, and per axis ``last row of cell 0's
    field + first row of the last cell's field`` (None where fields reach both borders); None when a
    probed cell sees nothing.

    Raises:
        UnsupportedOp: An op on the way to the layer is not known here (the reason names it).
    """
    (h, w), fy, fx = _fields(module, target, (2, channels, *size))
    edges = []
    for f, n, cells in ((fy, size[0], h), (fx, size[1], w)):
        lo0, hi0, lo1 = f.lo[0], f.hi[0], f.lo[-1]
        if not (math.isfinite(lo0) and math.isfinite(lo1)):
            return None
        edges.append(float(hi0 + lo1) if (hi0 < n - 1 and lo1 > 0 and cells > 1) else None)
    return (h, w), edges[0], edges[1]
