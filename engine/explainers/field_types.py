"""The values the layer arithmetic (:mod:`engine.explainers.fields`) carries per tensor, and their algebra.

A :class:`Field` holds, per cell of one tensor dimension, the first and the last input row (axis 0)
or column (axis 1) the cell depends on; a :class:`Meta` holds one per dimension (or a
:class:`Merged` for dimensions viewed as one) plus what every element depends on alike (``whole``:
what a reduction over an axis leaves). Windows (convolution, pooling) take the union of their valid
taps; unions of operands take the union cell by cell.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

INF = float("inf")


class UnsupportedOp(Exception):
    """The layer's fields cannot be derived by arithmetic (the reason names the op); probe instead."""


@dataclass(frozen=True)
class Field:
    """Per cell of one tensor dimension: the first and last input row (``axis`` 0) or column (1) it sees."""

    axis: int
    lo: np.ndarray  # +inf where a cell sees nothing
    hi: np.ndarray  # -inf where a cell sees nothing

    def span(self) -> tuple[float, float]:
        return float(self.lo.min()), float(self.hi.max())


@dataclass(frozen=True)
class Merged:
    """Several dimensions viewed as one (``x.view(N*H*W, C)`` in a Linear on channels-last maps)."""

    parts: tuple[tuple[int, Field | None], ...]  # (size, field) in order, sizes > 1


Dim = Field | Merged | None
Whole = tuple[tuple[float, float] | None, tuple[float, float] | None]


@dataclass(frozen=True)
class Meta:
    """What one tensor depends on: per dimension, and per axis for every element alike (``whole``)."""

    dims: tuple[Dim, ...]
    whole: Whole = (None, None)
    unknown: str | None = None  # the op that made the dependence unknown

    def is_const(self) -> bool:
        """Depends on no input pixel (weights, buffers, factories)."""
        return self.unknown is None and self.whole == (None, None) and self.dims.count(None) == len(self.dims)


def span_union(a: tuple[float, float] | None, b: tuple[float, float] | None) -> tuple[float, float] | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1])


def whole_union(*wholes: Whole) -> Whole:
    y: tuple[float, float] | None = None
    x: tuple[float, float] | None = None
    for w in wholes:
        y, x = span_union(y, w[0]), span_union(x, w[1])
    return y, x


def absorb(whole: Whole, dim: Dim) -> Whole:
    """``whole`` plus everything ``dim`` depends on (the dimension is reduced, normalised over, dropped)."""
    if dim is None:
        return whole
    fields = [dim] if isinstance(dim, Field) else [f for _, f in dim.parts if f is not None]
    out = list(whole)
    for f in fields:
        out[f.axis] = span_union(out[f.axis], f.span())
    return out[0], out[1]


class Unknown(Exception):
    """Raised inside a handler: the op's dependence cannot be expressed (the op runs for its shape)."""


def union_dims(a: Dim, b: Dim) -> Dim:
    if a is None or a is b:
        return b
    if b is None:
        return a
    if isinstance(a, Field) and isinstance(b, Field) and a.axis == b.axis and a.lo.shape == b.lo.shape:
        return Field(a.axis, np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))
    if isinstance(a, Merged) and isinstance(b, Merged) and \
            [(s, f.axis if f else None) for s, f in a.parts] == [(s, f.axis if f else None) for s, f in b.parts]:
        return Merged(tuple((s, union_dims(fa, fb)) for (s, fa), (_, fb) in zip(a.parts, b.parts, strict=True)))  # type: ignore[misc]
    raise Unknown("operands' grids do not line up")


@functools.lru_cache(maxsize=512)
def taps(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, int, int]:
    """Indices into the input padded by ``left``/``right`` empty cells: ``s*i - p + d*t + left``."""
    idx = s * np.arange(n_out)[:, None] - p + d * np.arange(k)[None, :]
    left = max(0, -int(idx.min()))
    right = max(0, int(idx.max()) - n_in + 1)
    return idx + left, left, right


@functools.lru_cache(maxsize=64)
def fill_inf(n: int) -> np.ndarray:
    return np.full(n, INF)


def window(f: Field, n_out: int, k: int, s: int, p: int, d: int) -> Field:
    """Cell ``i`` of a sliding window sees input cells ``s*i - p + d*t`` (``t < k``) that exist."""
    n_in = f.lo.shape[0]
    if k == 1 and s == 1 and p == 0 and n_out == n_in:
        return f
    idx, left, right = taps(n_in, n_out, k, s, p, d)
    if left or right:
        lo = np.concatenate((fill_inf(left), f.lo, fill_inf(right)))
        hi = np.concatenate((-fill_inf(left), f.hi, -fill_inf(right)))
    else:
        lo, hi = f.lo, f.hi
    return Field(f.axis, lo[idx].min(1), hi[idx].max(1))


def adaptive(f: Field, n_out: int) -> Field:
    n = f.lo.shape[0]
    lo, hi = np.empty(n_out), np.empty(n_out)
    for i in range(n_out):
        a, b = (i * n) // n_out, -((-(i + 1) * n) // n_out)
        lo[i], hi[i] = f.lo[a:b].min(), f.hi[a:b].max()
    return Field(f.axis, lo, hi)


def pooled_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = n + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def pair(v: Any, n: int, default: int | None = None) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return [int(default if default is not None else 0)] * n
    if isinstance(v, int):
        return [v] * n
    v = [int(u) for u in v]
    return v * n if len(v) == 1 else v


def regroup(parts: list[tuple[int, Dim]], sizes: Sequence[int]) -> list[Dim]:
    """Lay ``parts`` (size, field) out over new dimensions of ``sizes`` (all > 1); only unfielded
    parts may be cut."""
    out: list[Dim] = []
    queue = list(parts)
    for size in sizes:
        got: list[tuple[int, Field | None]] = []
        prod = 1
        while prod < size:
            if not queue:
                raise Unknown("view")
            n, f = queue.pop(0)
            if prod * n > size:  # cut this part
                need = size // prod
                if f is not None or size % prod or n % need:
                    raise Unknown("view splits a spatial axis")
                queue.insert(0, (n // need, None))
                n = need
            if isinstance(f, Merged):
                got.extend(f.parts)
            else:
                got.append((n, f))
            prod *= n
        if prod != size:
            raise Unknown("view")
        fields = [(n, f) for n, f in got if n > 1]
        if len(fields) == 1:
            out.append(fields[0][1])
        elif any(f is not None for _, f in fields):
            out.append(Merged(tuple(fields)))
        else:
            out.append(None)
    if any(f is not None for _, f in queue):
        raise Unknown("view")
    return out


def norm_dims(dims: Any, ndim: int) -> list[int]:
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    return [d % ndim if ndim else 0 for d in dims]


def empty(shape: Sequence[int], like: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    dtype = dtype or (like.dtype if like is not None else torch.float32)
    return torch.empty(tuple(int(s) for s in shape), dtype=dtype, device="meta")


def one_cell(axis: int) -> Field:
    """A grid of one cell along ``axis`` whose field is only what every element sees (``whole``)."""
    return Field(axis, np.array([INF]), np.array([-INF]))


class Tracker(Protocol):
    """What the op handlers need from the dispatch mode: each tensor's :class:`Meta`, and aliasing."""

    def meta(self, t: torch.Tensor) -> Meta:
        """The tensor's meta (constants: no dependence)."""

    def put(self, t: torch.Tensor, m: Meta) -> torch.Tensor:
        """Record ``t``'s meta; returns ``t``."""

    def wrote(self, t: torch.Tensor, what: str) -> None:
        """``t`` was written in place (``what``): tensors sharing its storage are no longer known."""

