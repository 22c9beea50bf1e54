"""Pathological findings rendered on top of the normal anatomy.

Each function returns the finding's own boolean mask (its true extent, from which the true box is
computed) and the density it adds (negative for extra air). Cardiomegaly is not here: it is a
normal heart drawn larger (see :mod:`training.phantom.anatomy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from training.phantom.anatomy import Anatomy, dome_y, thorax_half_width
from training.phantom.config import MASS_DIAMETER_MM, NODULE_DIAMETER_MM, PATIENT_FOV_MM
from training.phantom.fields import blur, largest_component, smoothstep, splat_polylines
from training.phantom.geometry import unit_grid

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

#: Density removed by fully aerated lung; fluid or airspace disease adds it back.
LUNG_AIR = 0.66


@dataclass(frozen=True, eq=False)
class FindingRender:
    """One rendered finding: its class, exact mask, density change and the lung side."""

    class_name: str
    mask: BoolArray
    density: FloatArray
    side: int  # -1 image left, +1 image right, 0 midline
    kills_vessels: BoolArray | None = None  # where no lung markings may be drawn


def effusion(rng: np.random.Generator, anat: Anatomy, side: int) -> FindingRender:
    """Homogeneous basal opacity with a meniscus rising into the lateral costophrenic angle."""
    size = anat.cavity.shape[0]
    x, y = unit_grid(size)
    p = anat.params
    lung = anat.lungs[0 if side < 0 else 1]
    d = (x - p.mx) * side
    hw = thorax_half_width(p, y)
    cp = float(dome_y(p, np.array(p.half_width * 0.98, dtype=np.float32), side))
    height = rng.uniform(0.06, 0.28)
    t = np.clip(d / hw, 0.0, 1.0)
    level = cp - height * (0.45 + 0.55 * t**3)
    mask = np.asarray(lung & (y > level))
    if mask.sum() < 20:
        mask = np.asarray(lung & (y > level - 0.03))
    mask = largest_component(mask)
    soft = blur(mask, 0.004 * size)
    # the top of the fluid fades slightly (meniscus), the rest is homogeneous water density
    fade = smoothstep(0.0, 0.03, y - level)
    dens = soft * (0.6 + 0.4 * fade) * (LUNG_AIR * anat.air + 0.06)
    return FindingRender("Pleural effusion", mask, dens.astype(np.float32), side, mask)


def pneumothorax(
    rng: np.random.Generator, anat: Anatomy, side: int, wall_dist: FloatArray
) -> FindingRender:
    """Apical/lateral lucency bounded by a thin visceral pleural line, with no lung markings.

    Args:
        wall_dist: Distance (normalised units) of each pixel from the chest wall, i.e. from the
            outside of the thoracic cavity.
    """
    size = anat.cavity.shape[0]
    _x, y = unit_grid(size)
    p = anat.params
    lung = anat.lungs[0 if side < 0 else 1]
    depth = rng.uniform(0.018, 0.06)
    y_lim = rng.uniform(0.38, min(0.6, p.dome_y[0] - 0.06))
    taper = np.sqrt(np.clip((y_lim - y) / 0.12, 0.0, 1.0))
    edge = depth * taper
    mask = np.asarray(lung & (wall_dist < edge))
    mask = largest_component(mask)
    px = 1.0 / size
    line = lung & ~mask & (wall_dist < edge + 1.6 * px) & (taper > 0)
    collapsed = lung & ~mask
    dens = (
        -0.16 * blur(mask, 0.6 * 1.0)
        + 0.14 * blur(line, 0.5)
        + 0.04 * blur(collapsed, 0.01 * size)
    )
    return FindingRender("Pneumothorax", mask, dens.astype(np.float32), side, mask)


def nodule(
    rng: np.random.Generator, anat: Anatomy, aerated: BoolArray, depth: FloatArray, mass: bool
) -> FindingRender | None:
    """A round (slightly lobulated) opacity entirely inside aerated lung; None if none fits.

    Diameters are drawn from :data:`NODULE_DIAMETER_MM` or, for a mass, :data:`MASS_DIAMETER_MM`.

    Args:
        depth: Distance in pixels of each pixel from the edge of the aerated lung.
    """
    size = aerated.shape[0]
    lo_mm, hi_mm = MASS_DIAMETER_MM if mass else NODULE_DIAMETER_MM
    r = 0.5 * rng.uniform(lo_mm, hi_mm) / PATIENT_FOV_MM  # radius in normalised units
    lob_amp = rng.uniform(0.0, 0.1 if mass else 0.05)
    picked = pick_point(rng, depth > r * (1.0 + lob_amp) * size + 1.5)
    if picked is None:
        return None
    cx, cy = picked
    x, y = unit_grid(size)
    dx, dy = x - cx, y - cy
    theta = np.arctan2(dy, dx)
    k = int(rng.integers(3, 7))
    lob = 1.0 + lob_amp * np.sin(k * theta + rng.uniform(0, 6.3))
    rho = np.hypot(dx, dy) / (r * lob)
    mask = np.asarray((rho < 1.0) & aerated)
    contrast = rng.uniform(0.22, 0.45)
    dens = contrast * np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0)) ** 0.6 * (0.8 + 0.2 * anat.air)
    side = -1 if cx < anat.params.mx else 1
    return FindingRender("Nodule/Mass", mask, blur(dens, 0.6).astype(np.float32), side)


def consolidation(
    rng: np.random.Generator, anat: Anatomy, aerated: BoolArray, depth: FloatArray
) -> FindingRender | None:
    """Patchy airspace opacity, sometimes with air bronchograms; None if it found no room.

    Args:
        depth: Distance in pixels of each pixel from the edge of the aerated lung.
    """
    size = aerated.shape[0]
    s = float(size)
    picked = pick_point(rng, depth > 0.03 * s)
    if picked is None:
        return None
    cx, cy = picked
    ax, ay = rng.uniform(0.05, 0.1), rng.uniform(0.05, 0.11)
    x, y = unit_grid(size)
    env = 1.0 - ((x - cx) / ax) ** 2 - ((y - cy) / ay) ** 2
    coarse = blur(rng.standard_normal((size, size)).astype(np.float32), 0.012 * s)
    coarse /= max(1e-6, float(np.std(coarse)))
    field = env + 0.35 * coarse
    mask = largest_component(np.asarray((field > 0.1) & aerated))
    if mask.sum() < 30:
        return None
    strength = rng.uniform(0.5, 0.85)
    opac = blur(mask, 0.006 * s) * np.clip(0.6 + 0.25 * coarse + 0.3 * np.clip(field, 0, 1), 0, 1)
    if rng.random() < 0.6:
        opac = opac * (1.0 - 0.5 * _bronchograms(rng, anat, cx, cy, ax, ay, size) * mask)
    dens = strength * opac * (LUNG_AIR * anat.air + 0.04)
    side = -1 if cx < anat.params.mx else 1
    return FindingRender("Consolidation", mask, dens.astype(np.float32), side)


def _bronchograms(
    rng: np.random.Generator, anat: Anatomy, cx: float, cy: float, ax: float, ay: float, size: int
) -> FloatArray:
    """Branching air-filled bronchi inside a consolidation (0..1)."""
    p = anat.params
    s = float(size)
    base = np.arctan2(cy - 0.42, cx - p.mx)  # pointing away from the hilum
    segs: list[tuple[float, float, float, float, float]] = []
    for _ in range(int(rng.integers(1, 3))):
        ang = base + rng.normal(0, 0.5)
        x0 = cx - 0.5 * ax * np.cos(ang)
        y0 = cy - 0.5 * ay * np.sin(ang)
        length = rng.uniform(0.4, 0.7) * max(ax, ay)
        x1, y1 = x0 + length * np.cos(ang), y0 + length * np.sin(ang)
        segs.append((x0 * s, y0 * s, x1 * s, y1 * s, 1.0))
        for da in (-0.4, 0.4):
            a2 = ang + da
            segs.append((x1 * s, y1 * s, (x1 + 0.4 * length * np.cos(a2)) * s,
                         (y1 + 0.4 * length * np.sin(a2)) * s, 1.0))
    lines = blur(splat_polylines((size, size), segs), 0.0025 * s)
    peak = float(lines.max())
    return np.clip(lines / (0.6 * peak), 0, 1) if peak > 0 else lines


def pick_point(rng: np.random.Generator, allowed: BoolArray) -> tuple[float, float] | None:
    """A random pixel centre ``(x, y)`` (normalised) where ``allowed`` holds, or None.

    Draws a fixed batch of uniform points in the allowed region's bounding box and keeps the
    first that lands inside, so the choice (and the random stream) hardly depends on image size.
    """
    size = allowed.shape[0]
    rows = np.flatnonzero(allowed.any(axis=1))
    cols = np.flatnonzero(allowed.any(axis=0))
    pts = rng.random((96, 2))
    if rows.size == 0:
        return None
    x0, x1 = cols[0] / size, (cols[-1] + 1) / size
    y0, y1 = rows[0] / size, (rows[-1] + 1) / size
    xs = np.minimum((x0 + pts[:, 0] * (x1 - x0)) * size, size - 1).astype(np.int64)
    ys = np.minimum((y0 + pts[:, 1] * (y1 - y0)) * size, size - 1).astype(np.int64)
    hits = np.flatnonzero(allowed[ys, xs])
    if hits.size:
        i = int(hits[0])
        return (xs[i] + 0.5) / size, (ys[i] + 0.5) / size
    cand = np.flatnonzero(allowed)
    c = int(cand[int(pts[0, 0] * cand.size)])
    return (c % size + 0.5) / size, (c // size + 0.5) / size


def wall_distance(cavity: BoolArray) -> FloatArray:
    """Distance (normalised units) of each cavity pixel from the chest wall/diaphragm."""
    size = cavity.shape[0]
    return (ndimage.distance_transform_edt(cavity) / size).astype(np.float32)


def inner_depth(mask: BoolArray) -> FloatArray:
    """Distance in pixels of each pixel of ``mask`` from its edge (0 outside)."""
    return np.asarray(ndimage.distance_transform_edt(mask), dtype=np.float32)
