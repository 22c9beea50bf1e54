"""Fast, exact thresholds and boxes on one map that is cut again and again (a threshold slider).

:func:`engine.localise.threshold_value` and :func:`engine.localise.map_to_boxes` look at every
pixel on every call: at 3000 x 3000 that is 0.1-1 s per call, and ``np.partition`` degrades further
on a map that is mostly exact zeros (a focal Grad-CAM, issue #19). A :class:`MapIndex` is built
once per map and answers the same questions with **bit-identical results** (tests compare them
with the full-resolution functions on every threshold kind):

* ``top:F``: the k-th largest value by a radix select. Positive float32 values order like their
  bit patterns, so a histogram of the top :data:`RADIX_BITS` bits of every positive value (built
  once) tells which value range holds the k-th largest; only the pixels in that range are then
  partitioned. Ties cost nothing: equal values share a bucket and the histogram counts them.
* ``max:F`` and ``otsu``: the maximum and Otsu's value are computed once.
* Boxes: the map is tiled into :data:`BLOCK` x :data:`BLOCK` blocks whose maxima are kept. Only
  blocks whose maximum reaches the cut can hold kept pixels; 8-connected groups of such blocks are
  labelled on the (small) block grid, and each group's pixels are labelled inside the group's
  bounding rectangle, masked to the group's own blocks. A pixel component cannot leave its group
  (an 8-connected step moves to the same or an 8-adjacent block, and every block it visits has a
  kept pixel), so the components, their boxes and their pixel counts equal those of the whole
  mask; the final order and the ``mode``/``min_area`` rules are those of
  :func:`engine.localise.mask_to_boxes`.

The cost of a query is proportional to the area near the kept pixels, not to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engine.localise.components import BoxMode, order_and_select
from engine.localise.errors import InvalidPolicyError
from engine.localise.maps import as_map
from engine.localise.runs import components
from engine.localise.threshold import Threshold, as_threshold

BLOCK = 32
"""Side of the blocks whose maxima decide where kept pixels can be (pixels)."""

RADIX_BITS = 20
"""Top bits of a positive value's bit pattern that form its histogram bucket."""


def _ordered_keys(values: npt.NDArray[np.floating]) -> npt.NDArray[np.unsignedinteger]:
    """Unsigned keys of positive floats, ordered like the values (IEEE 754 bit patterns)."""
    return values.view(np.uint32 if values.dtype.itemsize == 4 else np.uint64)


def block_maxima(m: npt.NDArray[np.floating], block: int) -> npt.NDArray[np.floating]:
    """Maximum of each ``block`` x ``block`` tile of ``m`` (the last row and column of tiles may be
    smaller): ``np.maximum.reduceat`` over rows, then columns, computed as reshaped maxima over
    whole tiles (several times faster on large maps) plus the ragged edge."""
    h, w = m.shape
    nh, nw = -(-h // block), -(-w // block)
    full_h, full_w = (h // block) * block, (w // block) * block
    rows = np.empty((nh, w), m.dtype)
    if full_h:
        rows[: h // block] = m[:full_h].reshape(h // block, block, w).max(axis=1)
    if full_h < h:
        rows[-1] = m[full_h:].max(axis=0)
    out = np.empty((nh, nw), m.dtype)
    if full_w:
        out[:, : w // block] = rows[:, :full_w].reshape(nh, w // block, block).max(axis=2)
    if full_w < w:
        out[:, -1] = rows[:, full_w:].max(axis=1)
    return out


@dataclass
class MapIndex:
    """Everything about one 2-D map that does not depend on the threshold, computed once.

    Args:
        heatmap: A finite 2-D map (float32 or float64 are kept as they are, other dtypes become
            float64, as :func:`engine.localise.as_map` does). The index keeps a reference: do not
            change the array afterwards.

    Raises:
        ShapeError: If the map is not 2-D.
        InvalidMapError: If it holds NaN or infinite values.
    """

    heatmap: npt.ArrayLike
    _map: npt.NDArray[np.floating] = field(init=False, repr=False)
    _max: float = field(init=False)
    _n_positive: int = field(init=False)
    _min_positive: float = field(init=False)
    _shift: int = field(init=False)
    _counts_desc: npt.NDArray[np.int64] = field(init=False, repr=False)
    _buckets_desc: npt.NDArray[np.int64] = field(init=False, repr=False)
    _block_max: npt.NDArray[np.floating] = field(init=False, repr=False)
    _otsu: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        m = as_map(self.heatmap)
        if m.dtype == np.float16:
            m = m.astype(np.float32)
        self._map = np.ascontiguousarray(m)
        self._max = float(m.max())
        bits = m.dtype.itemsize * 8
        self._shift = bits - RADIX_BITS
        # in blocks of the map: no copy of every positive value, no int64 copy of every key
        # (at 3000 x 3000 that was 36 MB more at the peak of radlens explain, issue #19)
        flat = self._map.reshape(-1)
        hist = np.zeros(0, np.int64)
        n_positive, min_positive = 0, math.inf
        for start in range(0, flat.size, 1 << 21):
            block = flat[start : start + (1 << 21)]
            positive = block[block > 0]
            if not positive.size:
                continue
            n_positive += int(positive.size)
            min_positive = min(min_positive, float(positive.min()))
            part = np.bincount(_ordered_keys(positive) >> self._shift)
            if part.size > hist.size:
                part[: hist.size] += hist
                hist = part
            else:
                hist[: part.size] += part
        self._n_positive = n_positive
        self._min_positive = min_positive
        if n_positive:
            buckets = np.flatnonzero(hist)[::-1]  # highest values first
            self._buckets_desc = buckets
            self._counts_desc = np.cumsum(hist[buckets])
        else:
            self._buckets_desc = np.zeros(0, dtype=np.int64)
            self._counts_desc = np.zeros(0, dtype=np.int64)
        self._block_max = block_maxima(m, BLOCK)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._map.shape[0]), int(self._map.shape[1]))

    # --- cut values ------------------------------------------------------------------------
    def _kth_largest_positive(self, k: int) -> float:
        """The k-th largest positive value (1-based); ``k <= number of positive pixels``."""
        i = int(np.searchsorted(self._counts_desc, k))
        above = int(self._counts_desc[i - 1]) if i > 0 else 0
        bucket = int(self._buckets_desc[i])
        kind = np.uint32 if self._map.dtype.itemsize == 4 else np.uint64
        lo, hi = np.array([bucket << self._shift, (bucket + 1) << self._shift], dtype=kind).view(self._map.dtype)
        members = self._map[(self._map >= lo) & (self._map < hi)]
        r = k - above  # rank inside the bucket, 1-based from the top
        return float(np.partition(members, members.size - r)[members.size - r])

    def cut(self, spec: Threshold | str) -> float:
        """The value :func:`engine.localise.threshold_value` gives for ``spec`` on this map."""
        t = as_threshold(spec)
        if self._max <= 0:
            return math.inf
        if t.kind == "top_fraction":
            assert t.value is not None
            size = self._map.size
            k = min(size, max(1, math.ceil(round(t.value * size, 6))))
            return self._kth_largest_positive(k) if k <= self._n_positive else self._min_positive
        if t.kind == "fraction_of_max":
            assert t.value is not None
            return t.value * self._max
        if self._otsu is None:
            from skimage.filters import threshold_otsu  # here: scikit-image and SciPy cost ~0.2 s to import

            self._otsu = math.inf if float(self._map.min()) == self._max else max(float(threshold_otsu(self._map)), 0.0)
        return self._otsu

    def mask(self, spec: Threshold | str) -> npt.NDArray[np.bool_]:
        """What :func:`engine.localise.threshold_mask` gives for ``spec`` on this map."""
        t = as_threshold(spec)
        cut = self.cut(t)
        if math.isinf(cut):
            return np.zeros(self.shape, dtype=bool)
        return self._map > cut if t.kind == "otsu" else self._map >= cut

    # --- boxes -----------------------------------------------------------------------------
    def components(
        self, spec: Threshold | str, connectivity: int = 2
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Boxes ``(N, 4)`` and pixel counts ``(N,)`` of the components of the thresholded map.

        Unordered; :meth:`boxes` applies the order and selection of ``mask_to_boxes``.
        """
        if connectivity not in (1, 2):
            raise InvalidPolicyError(f"Connectivity {connectivity!r} is not 1 or 2.")
        t = as_threshold(spec)
        cut = self.cut(t)
        empty = (np.zeros((0, 4), dtype=np.float64), np.zeros(0, dtype=np.int64))
        if math.isinf(cut):
            return empty
        strict = t.kind == "otsu"
        candidate = self._block_max > cut if strict else self._block_max >= cut
        found = components(candidate, 2, paint=True)
        if found.n == 0:
            return empty
        groups = found.labels
        assert groups is not None
        h, w = self.shape
        all_boxes, all_areas = [], []
        for g, (gx0, gy0, gx1, gy1) in enumerate(found.boxes.astype(np.intp).tolist(), start=1):
            sl = (slice(gy0, gy1), slice(gx0, gx1))
            r0, r1 = sl[0].start * BLOCK, min(sl[0].stop * BLOCK, h)
            c0, c1 = sl[1].start * BLOCK, min(sl[1].stop * BLOCK, w)
            crop = self._map[r0:r1, c0:c1]
            mask = crop > cut if strict else crop >= cut
            own = groups[sl] == g
            if not own.all():  # another group's blocks lie inside this rectangle
                mask &= np.repeat(np.repeat(own, BLOCK, axis=0), BLOCK, axis=1)[: r1 - r0, : c1 - c0]
            parts = components(mask, connectivity)
            if parts.n == 0:
                continue
            all_boxes.append(parts.boxes + np.array([c0, r0, c0, r0], np.float64))
            all_areas.append(parts.areas)
        if not all_boxes:
            return empty
        return np.concatenate(all_boxes), np.concatenate(all_areas)

    def boxes(
        self, spec: Threshold | str, mode: BoxMode = "all", min_area: int = 0, connectivity: int = 2
    ) -> npt.NDArray[np.float64]:
        """What :func:`engine.localise.map_to_boxes` returns for this map, the same arrays."""
        if mode not in ("all", "largest", "union"):
            raise InvalidPolicyError(f"Unknown box mode {mode!r}.", fix="Use one of ('all', 'largest', 'union').")
        boxes, areas = self.components(spec, connectivity)
        return order_and_select(boxes, areas, mode, min_area)
