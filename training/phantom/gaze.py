"""Simulated radiologist gaze on a phantom case: a reading path plus dwells on the findings.

The reader follows Kundel's search model in a simple, seeded form: a systematic reading path
zig-zags down the patient's right lung (image left), then the left lung, then crosses the heart
and mediastinum; when the path passes closest to a finding, the reader dwells on it with a
cluster of longer fixations drawn around the finding's mask. Normal images get the path only.

Randomness comes from its own generator, seeded from the case seed and :data:`GAZE_STREAM`, so
simulating gaze never changes a case's image, truth or annotations (they are generated first,
from the case's own stream).

Known geometry, used by the tests: every dwell fixation on finding ``k`` lies within the tight
box of its mask grown by ``GazeConfig.max_offset_sd * sd_k`` on each side (offsets are
truncated), where ``sd_k = GazeConfig.dwell_spread * sqrt(mask area)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.gaze import GazeRecording, gaze_density
from training.phantom.case import PhantomCase
from training.phantom.config import GENERATOR_VERSION, PhantomConfigError

#: Stream id mixed into the case seed for the gaze generator (ASCII "gaze").
GAZE_STREAM = 0x67617A65


@dataclass(frozen=True)
class GazeConfig:
    """How simulated gaze is drawn.

    Attributes:
        path_fixations: Fixations along the reading path (>= 2).
        dwell_fixations: Fixations on each finding.
        dwell_spread: Sd of a dwell fixation around a mask pixel, as a fraction of
            ``sqrt(mask area)``.
        max_offset_sd: Dwell offsets are truncated to this many sd per axis.
        path_jitter: Sd of a path fixation around the path, as a fraction of the image side.
        sigma_fraction: Density sd as a fraction of the image side (0.025: about one degree of
            visual angle for a film read at arm's length).
        path_duration_ms: Mean path fixation duration.
        dwell_duration_ms: Mean dwell fixation duration.
    """

    path_fixations: int = 30
    dwell_fixations: int = 12
    dwell_spread: float = 0.15
    max_offset_sd: float = 2.0
    path_jitter: float = 0.015
    sigma_fraction: float = 0.025
    path_duration_ms: float = 250.0
    dwell_duration_ms: float = 450.0

    def __post_init__(self) -> None:
        if self.path_fixations < 2 or self.dwell_fixations < 1:
            raise PhantomConfigError("gaze needs >= 2 path fixations and >= 1 per finding.",
                                     fix="raise path_fixations / dwell_fixations.")
        for name in ("dwell_spread", "max_offset_sd", "path_jitter", "sigma_fraction",
                     "path_duration_ms", "dwell_duration_ms"):
            if not float(getattr(self, name)) > 0:
                raise PhantomConfigError(f"gaze {name} must be > 0.", fix="use the default.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)


def gaze_seed(case_seed: int) -> int:
    """Seed of the gaze generator of the case generated from ``case_seed``."""
    state = np.random.SeedSequence([case_seed, GAZE_STREAM]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def _box_of(mask: npt.NDArray[np.bool_]) -> tuple[float, float, float, float] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def reading_path(case: PhantomCase) -> npt.NDArray[np.float64]:
    """Waypoints ``(x, y)`` of the reading path: right lung, left lung, then heart.

    Each lung (the lung mask split at the thorax's middle column) is read top to bottom in a
    zig-zag between its lateral and medial thirds; the path ends across the heart.
    """
    size = case.size
    cols = np.flatnonzero(case.thorax_mask.any(axis=0))
    mid = 0.5 * (cols[0] + cols[-1] + 1) if cols.size else size / 2
    left_half = np.zeros_like(case.lung_mask)
    left_half[:, : int(np.rint(mid))] = True
    points: list[tuple[float, float]] = []
    for side_mask, lateral_first in ((case.lung_mask & left_half, True), (case.lung_mask & ~left_half, False)):
        box = _box_of(side_mask)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        lateral, medial = (x0 + 0.3 * (x1 - x0), x0 + 0.7 * (x1 - x0))
        if not lateral_first:
            lateral, medial = medial, lateral
        for k, f in enumerate((0.12, 0.3, 0.5, 0.7, 0.88)):
            points.append((lateral if k % 2 == 0 else medial, y0 + f * (y1 - y0)))
    heart = _box_of(case.heart_mask)
    if heart is not None:
        hx0, hy0, hx1, hy1 = heart
        points += [(hx1 - 0.2 * (hx1 - hx0), 0.5 * (hy0 + hy1)), (hx0 + 0.2 * (hx1 - hx0), 0.5 * (hy0 + hy1))]
    if len(points) < 2:
        points = [(0.3 * size, 0.5 * size), (0.7 * size, 0.5 * size)]
    return np.asarray(points, dtype=np.float64)


def _along(waypoints: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    """``n`` points at equal arc length along the polyline (ends included)."""
    seg = np.linalg.norm(np.diff(waypoints, axis=0), axis=1)
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    s = np.linspace(0.0, cum[-1], n)
    return np.stack([np.interp(s, cum, waypoints[:, 0]), np.interp(s, cum, waypoints[:, 1])], axis=1)


def dwell_bounds(case: PhantomCase, config: GazeConfig) -> list[tuple[float, float, float, float]]:
    """Per finding, the box every dwell fixation on it lies in (tight box grown by the truncation)."""
    out = []
    for f in case.findings:
        margin = config.max_offset_sd * config.dwell_spread * float(np.sqrt(f.mask.sum()))
        x0, y0, x1, y1 = f.box
        out.append((x0 - margin, y0 - margin, x1 + margin, y1 + margin))
    return out


def simulate_gaze(case: PhantomCase, config: GazeConfig | None = None) -> GazeRecording:
    """One simulated reader's fixations on ``case`` and their density.

    Args:
        case: The generated case.
        config: Gaze settings (defaults when None).

    Returns:
        The recording; ``finding`` holds the index into ``case.findings`` (the order of
        ``truth.json``) for dwell fixations and -1 on the path. Coordinates lie in the image.
    """
    config = config or GazeConfig()
    rng = np.random.default_rng(gaze_seed(case.seed))
    size = case.size
    path = _along(reading_path(case), config.path_fixations)
    path = path + rng.normal(0.0, config.path_jitter * size, path.shape)
    dwells: list[tuple[int, npt.NDArray[np.float64]]] = []
    for f in case.findings:
        rows, cols = np.nonzero(f.mask)
        pick = rng.integers(0, rows.size, config.dwell_fixations)
        centre = np.stack([cols[pick] + rng.random(pick.size), rows[pick] + rng.random(pick.size)], axis=1)
        sd = config.dwell_spread * float(np.sqrt(rows.size))
        offset = np.clip(rng.normal(0.0, 1.0, centre.shape), -config.max_offset_sd, config.max_offset_sd) * sd
        # The reader notices the finding where the path passes closest to it.
        target = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
        at = int(np.argmin(np.linalg.norm(path - target, axis=1)))
        dwells.append((at, centre + offset))
    xy: list[npt.NDArray[np.float64]] = []
    finding: list[npt.NDArray[np.int64]] = []
    for i in range(path.shape[0]):
        xy.append(path[i : i + 1])
        finding.append(np.array([-1], dtype=np.int64))
        for k, (at, pts) in enumerate(dwells):
            if at == i:
                xy.append(pts)
                finding.append(np.full(pts.shape[0], k, dtype=np.int64))
    points = np.clip(np.concatenate(xy), 0.0, np.nextafter(float(size), 0.0))
    labels = np.concatenate(finding)
    means = np.where(labels < 0, config.path_duration_ms, config.dwell_duration_ms)
    duration = rng.gamma(4.0, means / 4.0)
    sigma = config.sigma_fraction * size
    density = gaze_density(points[:, 0], points[:, 1], (size, size), sigma)
    return GazeRecording(
        x=points[:, 0].copy(), y=points[:, 1].copy(), duration_ms=np.round(duration, 1), finding=labels,
        size=(size, size), sigma_px=sigma, density=density.astype(np.float32),
        source=f"radlens.training.phantom {GENERATOR_VERSION} simulated gaze",
    )
