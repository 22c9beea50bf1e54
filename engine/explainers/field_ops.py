"""Per aten op: the output's shape (without computing it) and what each output cell depends on.

Handlers take ``(tracker, func, args, kwargs)``, create shape-only (``meta``) outputs and record their
:class:`~engine.explainers.field_types.Meta`; :class:`~engine.explainers.field_types.Unknown` marks an
op whose dependence they cannot express (it then runs for its shape only and is marked unknown).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from engine.explainers.field_types import (
    INF,
    Dim,
    Field,
    Merged,
    Meta,
    Tracker,
    Unknown,
    Whole,
    absorb,
    adaptive,
    empty,
    norm_dims,
    pair,
    pooled_size,
    regroup,
    union_dims,
    whole_union,
    window,
)

#: Elementwise ops (besides those tagged pointwise): their output cell depends on the same cells of each operand.
POINTWISE = {
    "add", "sub", "mul", "div", "rsub", "where", "masked_fill", "hardswish", "hardswish_", "hardtanh", "hardtanh_",
    "hardsigmoid", "hardsigmoid_", "clone", "_to_copy", "detach", "alias", "lift_fresh", "lift_fresh_copy",
    "maximum", "minimum", "pow", "clamp", "clamp_min", "clamp_max", "threshold", "leaky_relu", "leaky_relu_",
    "elu", "elu_", "mish", "mish_", "softplus", "gelu", "gelu_", "silu", "silu_", "relu", "relu_", "sigmoid",
    "sigmoid_", "tanh", "tanh_", "add_", "mul_", "sub_", "div_", "addcmul", "addcdiv", "lerp", "prelu",
    "_prelu_kernel", "dropout", "contiguous", "_unsafe_view_copy", "exp", "log", "sqrt",
    "rsqrt", "neg", "abs", "reciprocal", "square", "erf", "copy",
}
#: Ops whose outputs share their first operand's storage: an in-place write into one changes the others.
VIEWS = {"view", "_unsafe_view", "_reshape_alias", "reshape", "permute", "t", "transpose", "unsqueeze", "squeeze",
         "expand", "slice", "select", "split", "split_with_sizes", "unbind", "alias", "detach", "as_strided",
         "narrow", "unflatten", "flatten", "view_as", "expand_as", "movedim", "chunk", "diagonal", "unfold"}


def tensor_args(args: Sequence[Any], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """The tensors among an op's arguments (aten ops nest them at most in one list)."""
    out = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, torch.Tensor))
    return out


@functools.lru_cache(maxsize=1024)
def handler(func: Any) -> Handler | None:
    name = func.overloadpacket.__name__
    handler = HANDLERS.get(name)
    if handler is None and (torch.Tag.pointwise in func.tags or name in POINTWISE):
        handler = _pointwise
    return handler


def _broadcast_shape(shapes: Sequence[Sequence[int]]) -> list[int]:
    nd = max(len(s) for s in shapes)
    out = [1] * nd
    for s in shapes:
        for i, n in enumerate(s, nd - len(s)):
            if n != 1:
                if out[i] not in (1, n):
                    raise Unknown("shapes do not broadcast")
                out[i] = int(n)
    return out


# -- handlers: (mode, func, args, kwargs) -> output; they set the outputs' metas ------------------------------
Handler = Callable[[Tracker, Any, list[Any], dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def _broadcast(mode: Tracker, tensors: list[torch.Tensor], shape: Sequence[int]) -> Meta:
    """The union of ``tensors``' metas broadcast to ``shape``."""
    nd = len(shape)
    dims: list[Dim] = [None] * nd
    wholes: list[Whole] = []
    for t in tensors:
        m = mode.meta(t)
        wholes.append(m.whole)
        off = nd - t.ndim
        for i, d in enumerate(m.dims):
            if d is None:
                continue
            if t.shape[i] == shape[off + i]:
                dims[off + i] = union_dims(dims[off + i], d)
            else:  # a size-1 dimension broadcast: every element sees it
                wholes.append(absorb((None, None), d))
    return Meta(tuple(dims), whole_union(*wholes))


def _pointwise(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    tensors = tensor_args(args, kwargs)
    shape = _broadcast_shape([t.shape for t in tensors])
    name = func.overloadpacket.__name__
    meta = _broadcast(mode, tensors, shape)
    if name.endswith("_") and isinstance(args[0], torch.Tensor):  # in place: the first operand is the output
        first = args[0]
        if any(not mode.meta(t).is_const() for t in tensors[1:]):  # what ``first`` depends on changes
            mode.wrote(first, f"{name} through a view")
        if tuple(first.shape) != tuple(shape):
            raise Unknown("in-place broadcast")
        return mode.put(first, meta)
    return mode.put(empty(shape, tensors[0]), meta)


@_handles("zero_", "fill_")
def _fill(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return _pointwise(mode, func, args, kwargs)
    mode.wrote(args[0], f"{func.overloadpacket.__name__} through a view")
    return mode.put(args[0], Meta((None,) * args[0].ndim))


@_handles("convolution")
def _conv(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, w, bias, stride, padding, dilation, transposed = args[:7]
    if transposed:
        raise Unknown("transposed")
    if not mode.meta(w).is_const() or (bias is not None and not mode.meta(bias).is_const()):
        raise Unknown("input-dependent weights")
    nd = w.ndim - 2
    m = mode.meta(x)
    ks = list(w.shape[2:])
    st, pd, dl = pair(stride, nd, 1), pair(padding, nd), pair(dilation, nd, 1)
    sp = list(x.shape[-nd:])
    out_sp = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(sp, ks, st, pd, dl, strict=True)]
    lead = list(x.shape[:-nd - 1])
    dims = list(m.dims)
    whole = absorb(m.whole, dims[-nd - 1])  # channels are summed over
    new: list[Dim] = [*dims[:-nd - 1], None]
    for i in range(nd):
        d = dims[-nd + i]
        if isinstance(d, Merged):
            raise Unknown("merged spatial axis")
        new.append(window(d, out_sp[i], ks[i], st[i], pd[i], dl[i]) if d is not None else None)
    return mode.put(empty([*lead, int(w.shape[0]), *out_sp], x), Meta(tuple(new), whole))


def _pool(mode: Tracker, x: torch.Tensor, k: list[int], s: list[int], p: list[int], d: list[int],
          ceil: bool) -> tuple[torch.Tensor, Meta]:
    m = mode.meta(x)
    sp = list(x.shape[-2:])
    out_sp = [pooled_size(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate(sp)]
    dims = list(m.dims)
    for i in range(2):
        f = dims[-2 + i]
        if isinstance(f, Merged):
            raise Unknown("merged spatial axis")
        dims[-2 + i] = window(f, out_sp[i], k[i], s[i], p[i], d[i]) if f is not None else None
    return empty([*x.shape[:-2], *out_sp], x), Meta(tuple(dims), m.whole)


@_handles("max_pool2d_with_indices", "max_pool2d")
def _maxpool(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    k = pair(args[1], 2)
    s = pair(args[2], 2) if len(args) > 2 and args[2] else k
    p = pair(args[3] if len(args) > 3 else 0, 2)
    d = pair(args[4] if len(args) > 4 else 1, 2, 1)
    ceil = bool(args[5]) if len(args) > 5 else bool(kwargs.get("ceil_mode", False))
    out, meta = _pool(mode, x, k, s, p, d, ceil)
    mode.put(out, meta)
    if func.overloadpacket.__name__ == "max_pool2d":
        return out
    return out, empty(out.shape, dtype=torch.int64)


@_handles("avg_pool2d")
def _avgpool(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    k = pair(args[1], 2)
    s = pair(args[2], 2) if len(args) > 2 and args[2] else k
    p = pair(args[3] if len(args) > 3 else 0, 2)
    ceil = bool(args[4]) if len(args) > 4 else bool(kwargs.get("ceil_mode", False))
    out, meta = _pool(mode, x, k, s, p, [1, 1], ceil)
    return mode.put(out, meta)


@_handles("_adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d")
def _adaptive_pool(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], pair(args[1], 2)
    m = mode.meta(x)
    dims = list(m.dims)
    for i in range(2):
        f = dims[-2 + i]
        if isinstance(f, Merged):
            raise Unknown("merged spatial axis")
        dims[-2 + i] = adaptive(f, size[i]) if f is not None else None
    out = mode.put(empty([*x.shape[:-2], *size], x), Meta(tuple(dims), m.whole))
    if func.overloadpacket.__name__ == "adaptive_max_pool2d":
        return out, empty(out.shape, dtype=torch.int64)
    return out


def _reduce_meta(m: Meta, red: list[int], keep: bool) -> Meta:
    whole = m.whole
    dims: list[Dim] = []
    for i, d in enumerate(m.dims):
        if i in red:
            whole = absorb(whole, d)
            if keep:
                dims.append(None)
        else:
            dims.append(d)
    return Meta(tuple(dims), whole)


@_handles("mean", "sum", "amax", "amin", "var", "std", "max", "min", "logsumexp", "norm", "linalg_vector_norm")
def _reduce(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    overload = func._overloadname
    name = func.overloadpacket.__name__
    if name in ("max", "min") and overload not in ("dim", "default"):
        raise Unknown("binary max/min")
    if name in ("norm", "linalg_vector_norm"):
        dims_arg = args[2] if len(args) > 2 else kwargs.get("dim")
        keep = bool(args[3]) if len(args) > 3 else bool(kwargs.get("keepdim", False))
    else:  # (self, dim=None, keepdim=False, ...) or (self, *, dtype) for a reduction over everything
        dims_arg = args[1] if len(args) > 1 else kwargs.get("dim")
        keep = bool(args[2]) if len(args) > 2 and isinstance(args[2], bool) else bool(kwargs.get("keepdim", False))
    red = norm_dims(dims_arg, x.ndim)
    shape = [(1 if i in red else n) for i, n in enumerate(x.shape) if keep or i not in red]
    meta = _reduce_meta(mode.meta(x), red, keep)
    out = mode.put(empty(shape, x), meta)
    if name in ("max", "min") and overload == "dim":
        return out, empty(shape, dtype=torch.int64)
    return out


@_handles("cat")
def _cat(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    tensors = [t for t in args[0] if t.numel() > 0 or t.ndim > 1]
    dim = int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0))
    dim %= tensors[0].ndim
    shape = list(tensors[0].shape)
    shape[dim] = sum(int(t.shape[dim]) for t in tensors)
    dims: list[Dim] = [None] * len(shape)
    wholes: list[Whole] = []
    for t in tensors:
        m = mode.meta(t)
        wholes.append(m.whole)
        for i, d in enumerate(m.dims):
            if i == dim:
                if d is not None:
                    raise Unknown("along a spatial axis")
                continue
            dims[i] = union_dims(dims[i], d)
    return mode.put(empty(shape, tensors[0]), Meta(tuple(dims), whole_union(*wholes)))


@_handles("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
          "native_group_norm", "native_layer_norm")
def _norm(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
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
        whole = absorb(whole, m.dims[i])
    out = mode.put(empty(x.shape, x), Meta(m.dims, whole))
    kept = x.ndim - len(red) if name == "native_layer_norm" else 0  # layer norm's statistics keep the leading dims
    stats = Meta(tuple(m.dims[i] if i < kept else None for i in range(len(stats_shape))), whole)
    s1, s2 = empty(stats_shape, x), empty(stats_shape, x)
    mode.put(s1, stats)
    mode.put(s2, stats)
    return out, s1, s2


@_handles("_softmax", "_log_softmax", "softmax", "log_softmax")
def _softmax(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim = args[0], int(args[1]) % max(args[0].ndim, 1)
    m = mode.meta(x)
    return mode.put(empty(x.shape, x), Meta(m.dims, absorb(m.whole, m.dims[dim])))


def _matmul_meta(mode: Tracker, a: torch.Tensor, b: torch.Tensor, batch: bool) -> tuple[list[int], Meta]:
    ma, mb = mode.meta(a), mode.meta(b)
    whole = whole_union(ma.whole, mb.whole)
    whole = absorb(absorb(whole, ma.dims[-1]), mb.dims[-2])  # the contracted dimension
    dims: list[Dim] = []
    if batch:
        dims.append(union_dims(ma.dims[0], mb.dims[0]))
    dims += [ma.dims[-2], mb.dims[-1]]
    shape = [*([int(a.shape[0])] if batch else []), int(a.shape[-2]), int(b.shape[-1])]
    return shape, Meta(tuple(dims), whole)


@_handles("mm", "bmm")
def _mm(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    shape, meta = _matmul_meta(mode, args[0], args[1], func.overloadpacket.__name__ == "bmm")
    return mode.put(empty(shape, args[0]), meta)


@_handles("addmm", "baddbmm")
def _addmm(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    bias, a, b = args[:3]
    shape, meta = _matmul_meta(mode, a, b, func.overloadpacket.__name__ == "baddbmm")
    out = mode.put(empty(shape, a), meta)
    full = _broadcast(mode, [out, bias], shape)
    return mode.put(out, full)


@_handles("view", "_unsafe_view", "reshape", "view_copy", "_reshape_alias")
def _view(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], [int(s) for s in args[1]]
    if -1 in size:
        known = math.prod(s for s in size if s != -1)
        size[size.index(-1)] = x.numel() // known if known else 0
    m = mode.meta(x)
    whole = m.whole
    parts: list[tuple[int, Dim]] = []
    for n, d in zip(x.shape, m.dims, strict=True):
        if n == 1:
            whole = absorb(whole, d)
        elif isinstance(d, Merged):
            parts.extend(d.parts)
        else:
            parts.append((int(n), d))
    big = [s for s in size if s != 1]
    laid = iter(regroup(parts, big))
    dims = tuple(None if s == 1 else next(laid) for s in size)
    return mode.put(empty(size, x), Meta(dims, whole))


@_handles("permute", "t", "transpose", "movedim")
def _permute(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
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
    return mode.put(empty([x.shape[i] for i in order], x), Meta(tuple(m.dims[i] for i in order), m.whole))


@_handles("unsqueeze")
def _unsqueeze(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim = args[0], int(args[1]) % (args[0].ndim + 1)
    m = mode.meta(x)
    shape, dims = list(x.shape), list(m.dims)
    shape.insert(dim, 1)
    dims.insert(dim, None)
    return mode.put(empty(shape, x), Meta(tuple(dims), m.whole))


@_handles("squeeze")
def _squeeze(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    drop = norm_dims(args[1] if len(args) > 1 else None, x.ndim)
    drop = [d for d in drop if x.shape[d] == 1]
    return mode.put(empty([n for i, n in enumerate(x.shape) if i not in drop], x),
                    _reduce_meta(mode.meta(x), drop, keep=False))


@_handles("expand")
def _expand(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], [int(s) for s in args[1]]
    off = len(size) - x.ndim
    shape = [x.shape[i - off] if s == -1 else s for i, s in enumerate(size)]
    return mode.put(empty(shape, x), _broadcast(mode, [x], shape))


@_handles("slice")
def _slice(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dim = int(args[1]) % x.ndim if len(args) > 1 else 0
    start = args[2] if len(args) > 2 else None
    end = args[3] if len(args) > 3 else None
    step = int(args[4]) if len(args) > 4 else 1
    keep = range(int(x.shape[dim]))[slice(start, end, step)]
    m = mode.meta(x)
    dims = list(m.dims)
    d = dims[dim]
    if isinstance(d, Merged):
        raise Unknown("slice of merged axes")
    if isinstance(d, Field):
        idx = np.asarray(keep, dtype=np.int64)
        dims[dim] = Field(d.axis, d.lo[idx], d.hi[idx])
    shape = list(x.shape)
    shape[dim] = len(keep)
    return mode.put(empty(shape, x), Meta(tuple(dims), m.whole))


@_handles("select")
def _select(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x, dim, index = args[0], int(args[1]) % args[0].ndim, int(args[2])
    m = mode.meta(x)
    d = m.dims[dim]
    if isinstance(d, Merged):
        raise Unknown("select of merged axes")
    whole = m.whole
    if isinstance(d, Field):
        one = Field(d.axis, d.lo[index:index + 1 or None], d.hi[index:index + 1 or None])
        whole = absorb(whole, one)
    dims = tuple(v for i, v in enumerate(m.dims) if i != dim)
    return mode.put(empty([n for i, n in enumerate(x.shape) if i != dim], x), Meta(dims, whole))


@_handles("constant_pad_nd", "reflection_pad2d", "replication_pad2d", "reflection_pad1d", "replication_pad1d")
def _pad(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
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
        if isinstance(d, Merged):
            raise Unknown("pad of merged axes")
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
        dims[i] = Field(d.axis, np.where(valid, d.lo[safe], INF), np.where(valid, d.hi[safe], -INF))
    return mode.put(empty(shape, x), Meta(tuple(dims), m.whole))


def _resample_taps(n_in: int, n_out: int, mode: str, align_corners: bool, scale: float | None) -> np.ndarray:
    """Per output cell, the input cells that reach it with a non-zero weight (PyTorch's float32 index maths)."""
    dst = np.arange(n_out, dtype=np.float32)
    if align_corners:
        ratio = np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 else np.float32(0)
    else:
        ratio = np.float32(1.0 / scale) if scale else np.float32(n_in / n_out)
    if mode == "nearest":
        return np.minimum(np.floor(dst * ratio), n_in - 1).astype(np.int64)[:, None]
    if mode == "nearest-exact":
        return np.minimum(np.floor((dst + np.float32(0.5)) * ratio), n_in - 1).astype(np.int64)[:, None]
    src = dst * ratio if align_corners else np.maximum((dst + np.float32(0.5)) * ratio - np.float32(0.5), 0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.where((src - i0 > 0) & (i0 < n_in - 1), i0 + 1, i0)  # a zero weight carries no gradient
    return np.stack([i0, i1], 1)


@_handles("upsample_nearest2d", "_upsample_nearest_exact2d", "upsample_bilinear2d")
def _upsample(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if func._overloadname != "default":
        raise Unknown("scale-factor overload")
    name = func.overloadpacket.__name__
    x, size = args[0], [int(v) for v in args[1]]
    bilinear = name == "upsample_bilinear2d"
    align = bool(args[2]) if bilinear else False
    scales = list(args[3:5] if bilinear else args[2:4])
    kind = "linear" if bilinear else ("nearest-exact" if "exact" in name else "nearest")
    m = mode.meta(x)
    dims = list(m.dims)
    for i in range(2):
        f = dims[-2 + i]
        if isinstance(f, Merged):
            raise Unknown("merged spatial axis")
        if f is not None:
            scale = scales[i] if i < len(scales) else None
            idx = _resample_taps(int(x.shape[-2 + i]), size[i], kind, align, scale)
            dims[-2 + i] = Field(f.axis, f.lo[idx].min(1), f.hi[idx].max(1))
    return mode.put(empty([*x.shape[:-2], *size], x), Meta(tuple(dims), m.whole))


@_handles("split", "split_with_sizes")
def _split(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
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
def _unbind(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dim = int(args[1]) % x.ndim if len(args) > 1 else 0
    return [_select(mode, func, [x, dim, i], {}) for i in range(int(x.shape[dim]))]


@_handles("copy_")
def _copy(mode: Tracker, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    dst, src = args[0], args[1]
    mode.wrote(dst, "copy_ through a view")
    return mode.put(dst, _broadcast(mode, [src], dst.shape))
