"""Gaze recordings beside images: the ``<stem>.gaze.npz`` format, its reader and density maps.

One file per image, next to it (``images/phantom_00003.dcm`` -> ``images/phantom_00003.gaze.npz``),
a NumPy ``.npz`` archive (read with ``allow_pickle=False``) holding:

==================  =======================  ==============================================
key                 dtype, shape             meaning
==================  =======================  ==============================================
``schema_version``  int64 ()                 :data:`GAZE_SCHEMA_VERSION`
``x``, ``y``        float64 (N,)             fixation centres in image pixels, pixel-edge
                                             convention (pixel (i, j) covers [j, j+1) x [i, i+1))
``duration_ms``     float64 (N,)             fixation durations, in viewing order
``finding``         int64 (N,)               index into the image's ``truth.json`` findings
                                             the fixation dwells on; -1 = reading path
``size``            int64 (2,)               ``(H, W)`` of the image the coordinates refer to
``sigma_px``        float64 ()               Gaussian sd of the density, image pixels
``density``         float32 (H, W)           fixation density (sums to 1), :func:`gaze_density`
``source``          str ()                   who made it, e.g. ``radlens.training.phantom 1.1.0``
==================  =======================  ==============================================

The density follows the MIT saliency benchmark: each fixation is one count at its pixel (not
weighted by duration), the count map is blurred with a Gaussian of ``sigma_px`` (zero outside
the image) and divided by its sum. Saliency metrics (:mod:`engine.localise.saliency`) score a
map against :meth:`GazeRecording.density_map` (KL, CC, SIM) and
:meth:`GazeRecording.fixation_map` (NSS, AUC-Judd); both render at any shape, so a model-sized
heatmap can be scored without resizing it; :func:`gaze_scores` does exactly that.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from engine.atomic import atomic_write_bytes
from engine.errors import RadLensError
from engine.localise.maps import as_map
from engine.localise.saliency import saliency_scores

GAZE_SCHEMA_VERSION = 1
GAZE_SUFFIX = ".gaze.npz"
_KEYS = ("schema_version", "x", "y", "duration_ms", "finding", "size", "sigma_px", "density", "source")


class GazeFormatError(RadLensError):
    """A gaze file is missing, unreadable, or not in the ``.gaze.npz`` format."""


def gaze_density(
    x: npt.ArrayLike, y: npt.ArrayLike, shape: tuple[int, int], sigma_px: float
) -> npt.NDArray[np.float64]:
    """Fixation density on a ``shape`` grid: one count per fixation, Gaussian blur, sum 1.

    Args:
        x: Fixation x coordinates (pixel-edge convention); points off the grid are dropped.
        y: Fixation y coordinates.
        shape: ``(H, W)``.
        sigma_px: Gaussian sd in pixels of this grid (> 0).

    Returns:
        ``(H, W)`` float64 map summing to 1, or all zeros without any fixation on the grid.
    """
    h, w = int(shape[0]), int(shape[1])
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    cols, rows = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    keep = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    counts = np.zeros((h, w), dtype=np.float64)
    np.add.at(counts, (rows[keep], cols[keep]), 1.0)
    if sigma_px > 0:
        counts = ndimage.gaussian_filter(counts, float(sigma_px), mode="constant", truncate=4.0)
    total = float(counts.sum())
    return counts / total if total > 0 else counts


@dataclass(frozen=True, eq=False)
class GazeRecording:
    """The fixations of one reader on one image (see the module docstring for the fields)."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    duration_ms: npt.NDArray[np.float64]
    finding: npt.NDArray[np.int64]
    size: tuple[int, int]
    sigma_px: float
    density: npt.NDArray[np.float32]
    source: str = ""

    @property
    def n(self) -> int:
        """Number of fixations."""
        return int(self.x.size)

    def points(self) -> npt.NDArray[np.float64]:
        """``(N, 2)`` fixation centres ``(x, y)`` in image pixels."""
        return np.stack([self.x, self.y], axis=1)

    def _scaled(self, shape: tuple[int, int] | None) -> tuple[tuple[int, int], np.ndarray, np.ndarray, float]:
        h, w = self.size if shape is None else (int(shape[0]), int(shape[1]))
        sy, sx = h / self.size[0], w / self.size[1]
        return (h, w), self.x * sx, self.y * sy, self.sigma_px * float(np.sqrt(sx * sy))

    def fixation_map(self, shape: tuple[int, int] | None = None) -> npt.NDArray[np.bool_]:
        """Binary map of the fixated pixels on a ``shape`` grid (default: the image's).

        Coordinates scale with the grid (a fixation at x on a W-wide image lands at
        ``x * W' / W``), so the map matches a heatmap upsampled or downsampled from the image.
        """
        (h, w), xs, ys, _ = self._scaled(shape)
        cols, rows = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
        keep = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        out = np.zeros((h, w), dtype=bool)
        out[rows[keep], cols[keep]] = True
        return out

    def density_map(self, shape: tuple[int, int] | None = None) -> npt.NDArray[np.float64]:
        """Fixation density (sum 1) on a ``shape`` grid; the stored map at the image's size.

        At another shape it is recomputed from the scaled fixations with a scaled sigma.
        """
        if shape is None or tuple(shape) == tuple(self.size):
            return self.density.astype(np.float64)
        grid, xs, ys, sigma = self._scaled(shape)
        return gaze_density(xs, ys, grid, sigma)


def gaze_path(image_path: str | os.PathLike[str]) -> Path:
    """The gaze file that belongs to an image: same folder, ``<stem>.gaze.npz``."""
    p = Path(image_path)
    return p.with_name(p.stem + GAZE_SUFFIX)


def encode_gaze(rec: GazeRecording) -> bytes:
    """The ``.gaze.npz`` bytes of a recording (compressed)."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        schema_version=np.int64(GAZE_SCHEMA_VERSION),
        x=np.asarray(rec.x, dtype=np.float64),
        y=np.asarray(rec.y, dtype=np.float64),
        duration_ms=np.asarray(rec.duration_ms, dtype=np.float64),
        finding=np.asarray(rec.finding, dtype=np.int64),
        size=np.asarray(rec.size, dtype=np.int64),
        sigma_px=np.float64(rec.sigma_px),
        density=np.asarray(rec.density, dtype=np.float32),
        source=np.str_(rec.source),
    )
    return buffer.getvalue()


def write_gaze(path: str | os.PathLike[str], rec: GazeRecording) -> None:
    """Write ``rec`` to ``path`` atomically (temp file + rename)."""
    atomic_write_bytes(path, encode_gaze(rec))


def load_gaze(path: str | os.PathLike[str]) -> GazeRecording:
    """Read a ``.gaze.npz`` file.

    Raises:
        GazeFormatError: If the file is missing or unreadable, lacks a key, has another schema
            version, or its arrays disagree in length or shape.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise GazeFormatError(f"not a RadLens gaze file: missing {', '.join(missing)}.", path=p,
                                      fix="write it with training.gaze.write_gaze (see docs/gaze.md).")
            arrays = {k: data[k] for k in _KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GazeFormatError(f"cannot read the gaze file ({exc}).", path=p,
                              fix="regenerate it (radlens phantom --gaze) or remove it.") from exc
    version = int(arrays["schema_version"])
    if version != GAZE_SCHEMA_VERSION:
        raise GazeFormatError(f"gaze schema version {version}; this RadLens reads {GAZE_SCHEMA_VERSION}.", path=p,
                              fix="regenerate the gaze files with this RadLens.")
    x, y = arrays["x"].astype(np.float64), arrays["y"].astype(np.float64)
    duration, finding = arrays["duration_ms"].astype(np.float64), arrays["finding"].astype(np.int64)
    size_arr = arrays["size"].astype(np.int64)
    density = arrays["density"].astype(np.float32)
    if not (x.ndim == 1 and x.shape == y.shape == duration.shape == finding.shape):
        raise GazeFormatError("x, y, duration_ms and finding differ in length.", path=p,
                              fix="regenerate the gaze file.")
    if size_arr.shape != (2,) or density.shape != tuple(int(v) for v in size_arr):
        raise GazeFormatError(f"density shape {density.shape} does not match size {size_arr.tolist()}.", path=p,
                              fix="regenerate the gaze file.")
    return GazeRecording(x=x, y=y, duration_ms=duration, finding=finding,
                         size=(int(size_arr[0]), int(size_arr[1])), sigma_px=float(arrays["sigma_px"]),
                         density=density, source=str(arrays["source"]))


def find_gaze(image_path: str | os.PathLike[str]) -> GazeRecording | None:
    """The gaze recording beside ``image_path``, or None when there is none.

    Raises:
        GazeFormatError: If the file exists but cannot be read.
    """
    p = gaze_path(image_path)
    return load_gaze(p) if p.is_file() else None


def gaze_scores(saliency: npt.ArrayLike, rec: GazeRecording) -> dict[str, float]:
    """KL, CC, SIM, NSS and AUC-Judd of a saliency map against a recording, at the map's shape.

    The density and fixation maps are rendered on the saliency map's grid
    (:meth:`GazeRecording.density_map`, :meth:`GazeRecording.fixation_map`), so a heatmap at
    model resolution needs no resizing.

    Returns:
        ``{"kl", "cc", "sim", "nss", "auc_judd"}`` -> value (see :mod:`engine.localise.saliency`).
    """
    m = as_map(saliency, "saliency map")
    shape = (int(m.shape[0]), int(m.shape[1]))
    return saliency_scores(m, rec.density_map(shape), rec.fixation_map(shape))
