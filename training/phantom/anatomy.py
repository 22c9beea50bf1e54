"""Normal chest anatomy of a phantom frontal (PA) radiograph.

All geometry is in normalised image coordinates (x, y in [0, 1], y down) so the anatomy keeps its
proportions at any size. The image left is the patient's right (PA convention). Densities are
attenuation-like: 0 is air outside the body, larger is brighter on the display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.phantom.fields import blur, smoothstep, splat_polylines
from training.phantom.geometry import cardiothoracic_ratio, mask_width, unit_grid

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

#: Side signs: -1 is the image left (patient's right lung), +1 the image right (patient's left).
SIDES: tuple[int, int] = (-1, 1)


@dataclass(frozen=True)
class AnatomyParams:
    """Sampled shape parameters of one chest (normalised units)."""

    mx: float  # midline x
    half_width: float  # inner thoracic half-width at the bases
    apex_y: float  # highest point of the lung apices
    dome_y: tuple[float, float]  # dome peak y for the (image-left, image-right) hemidiaphragm
    cp_depth: float  # how far the costophrenic angles lie below the dome peaks
    body_margin: float  # soft tissue outside the ribs
    heart_cy: float
    heart_left: float  # heart extent toward the image left (patient's right border)
    heart_right: float  # extent toward the image right (left ventricle)
    heart_top: float  # vertical half-height above the widest row
    heart_shear: float
    knob: float  # aortic knob bulge
    rib_phase: float


@dataclass(frozen=True, eq=False)
class Anatomy:
    """Rendered masks and density layers of the normal chest."""

    params: AnatomyParams
    cavity: BoolArray  # thoracic cavity: inside the inner rib margins, above the diaphragm
    lungs: tuple[BoolArray, BoolArray]  # (image-left, image-right) lung fields
    heart: BoolArray
    body: FloatArray  # soft-tissue density incl. mediastinum and abdomen
    air: FloatArray  # lung air (to be subtracted), 0..1
    bones: FloatArray
    ctr: float


def thorax_half_width(p: AnatomyParams, y: FloatArray) -> FloatArray:
    """Inner half-width of the thorax at height ``y``."""
    return (p.half_width * (0.86 + 0.14 * smoothstep(p.apex_y, p.apex_y + 0.45, y))).astype(
        np.float32
    )


def dome_y(p: AnatomyParams, d: FloatArray, side: int) -> FloatArray:
    """Height of the hemidiaphragm at lateral distance ``d`` from the midline on ``side``."""
    peak = p.dome_y[0] if side < 0 else p.dome_y[1]
    dp = 0.45 * p.half_width
    lat = np.clip((d - dp) / (p.half_width - dp), 0.0, None)
    med = np.clip((dp - d) / dp, 0.0, 1.0)
    return (peak + p.cp_depth * lat**2.2 + 0.035 * med**2).astype(np.float32)


def apex_y(p: AnatomyParams, d: FloatArray) -> FloatArray:
    """Upper lung boundary (apices) at lateral distance ``d``."""
    da = 0.42 * p.half_width
    lat = np.clip((d - da) / (p.half_width - da), 0.0, None)
    med = np.clip((da - d) / da, 0.0, None)
    return (p.apex_y + 0.2 * lat**2 + 0.05 * med**2).astype(np.float32)


def sample_params(rng: np.random.Generator, ctr_target: float) -> AnatomyParams:
    """Draw the shape of one chest; the heart is later resized to ``ctr_target``."""
    half_width = rng.uniform(0.335, 0.375)
    dome_r = rng.uniform(0.60, 0.66)
    heart_total = ctr_target * 2.0 * half_width
    right_share = rng.uniform(0.6, 0.68)
    return AnatomyParams(
        mx=0.5 + rng.uniform(-0.012, 0.012),
        half_width=half_width,
        apex_y=rng.uniform(0.095, 0.125),
        dome_y=(dome_r, dome_r + rng.uniform(0.01, 0.035)),
        cp_depth=rng.uniform(0.08, 0.11),
        body_margin=rng.uniform(0.075, 0.105),
        heart_cy=dome_r - rng.uniform(0.05, 0.075),
        heart_left=heart_total * (1.0 - right_share),
        heart_right=heart_total * right_share,
        heart_top=rng.uniform(0.13, 0.16),
        heart_shear=rng.uniform(0.1, 0.35),
        knob=rng.uniform(0.015, 0.035),
        rib_phase=rng.uniform(-0.01, 0.01),
    )


def _heart_mask(
    p: AnatomyParams, scale: float, size: int, cavity: BoolArray, dome: FloatArray
) -> BoolArray:
    x, y = unit_grid(size)
    rows = _rows(size, p.heart_cy - p.heart_top - 0.01, max(p.dome_y) + 0.2)
    xs, ys = x[rows], y[rows]
    dy = ys - p.heart_cy
    xr = xs - p.mx - p.heart_shear * dy
    ax = np.where(xr < 0, p.heart_left, p.heart_right) * scale
    hy = np.where(dy < 0, p.heart_top, 0.2)
    inside = (xr / ax) ** 2 + (dy / hy) ** 2 < 1.0
    out = np.zeros((size, size), dtype=bool)
    out[rows] = inside & (ys < dome[rows] + 0.004) & cavity[rows]
    return out


def _fit_heart(
    p: AnatomyParams, ctr_target: float, size: int, cavity: BoolArray, dome: FloatArray
) -> tuple[BoolArray, float]:
    """Scale the heart until its rendered cardiothoracic ratio matches ``ctr_target``."""
    thorax_w = mask_width(cavity)
    scale = 1.0
    heart = _heart_mask(p, scale, size, cavity, dome)
    for _ in range(4):
        width = mask_width(heart)
        if width == 0:
            break
        err = ctr_target * thorax_w / width
        if abs(err - 1.0) < 0.004:
            break
        scale *= err
        heart = _heart_mask(p, scale, size, cavity, dome)
    return heart, cardiothoracic_ratio(heart, cavity)


def render_anatomy(rng: np.random.Generator, size: int, ctr_target: float) -> Anatomy:
    """Render the normal chest with a heart of cardiothoracic ratio close to ``ctr_target``."""
    p = sample_params(rng, ctr_target)
    x, y = unit_grid(size)
    d = np.abs(x - p.mx)
    left = x < p.mx
    s_px = float(size)

    # thoracic cavity, mediastinum, heart, lungs
    dome = np.where(left, dome_y(p, d, -1), dome_y(p, d, 1))
    cavity = (d < thorax_half_width(p, y)) & (y > apex_y(p, d)) & (y < dome)
    knob_bump = p.knob * np.exp(-(((y - 0.31) / 0.035) ** 2)) * (~left)
    med_hw = 0.056 + knob_bump + 0.012 * smoothstep(0.3, 0.45, y)
    mediastinum = cavity & (d < med_hw)
    heart, ctr = _fit_heart(p, ctr_target, size, cavity, dome)
    lung_all = cavity & ~mediastinum & ~heart
    lungs = (np.asarray(lung_all & left), np.asarray(lung_all & ~left))

    # soft tissue: body outline with neck and shoulders
    bmax = p.half_width + p.body_margin
    y_neck = p.apex_y - 0.085
    b = 0.08 + (bmax - 0.08) * smoothstep(y_neck, p.apex_y + 0.03, y)
    b = b - 0.03 * smoothstep(0.75, 1.0, y)
    body_edge = np.clip((b - d) * s_px / 1.5, 0.0, 1.0)
    thick = np.sqrt(np.clip(1.0 - (d / b) ** 2, 0.0, 1.0))
    body = body_edge * (0.12 + 0.8 * thick**1.4)

    # soft-edged extras, blurred together: abdomen, heart, mediastinum, trachea, stomach gas
    carina = 0.35 + rng.uniform(-0.02, 0.02)
    trachea = (d < 0.014) & (y < carina)
    gx, gy = p.mx + 0.5 * p.half_width, p.dome_y[1] + rng.uniform(0.04, 0.07)
    bubble = (((x - gx) / 0.06) ** 2 + ((y - gy) / 0.03) ** 2 < 1.0) & (y > dome + 0.01)
    below = y > dome
    extras = (
        0.05 * (below & (d < b))
        + 0.1 * heart
        + 0.08 * mediastinum
        - 0.16 * trachea
        - rng.uniform(0.08, 0.18) * bubble
    )
    body = body + blur(extras, 0.004 * s_px) * body_edge

    # lung air: softer at the edges, deepest in the centre of each lung
    lung_f = lung_all.astype(np.float32)
    air = blur(lung_f, 0.004 * s_px) * (0.5 + 0.5 * np.clip(blur(lung_f, 0.03 * s_px) * 1.4, 0, 1))
    air = air * (0.3 + 0.7 * thick**1.4)

    spine = _spine(p, x, y)
    rib_vis = 0.45 + 0.55 * np.clip(air * 1.6, 0.0, 1.0) - 0.15 * below
    bones = spine + _ribs(p, x, y) * rib_vis + _clavicles(p, x, y)
    bones = _humeral_heads(p, x, y, bones)
    bones = blur(bones, 0.0012 * s_px) * body_edge

    return Anatomy(
        params=p,
        cavity=np.asarray(cavity),
        lungs=lungs,
        heart=heart,
        body=np.asarray(body, dtype=np.float32),
        air=np.asarray(air, dtype=np.float32),
        bones=np.asarray(bones, dtype=np.float32),
        ctr=ctr,
    )


def _tube(dist: FloatArray, half: float) -> FloatArray:
    """Projected density of a bone tube with a brighter cortex, ``dist`` from its axis."""
    t = np.abs(dist) / half
    core = np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0))
    cortex = np.exp(-(((t - 0.85) / 0.18) ** 2))
    return (0.6 * core + 0.5 * cortex * (t < 1.15)).astype(np.float32)


def _rows(size: int, y0: float, y1: float) -> slice:
    return slice(max(0, int(y0 * size)), min(size, int(np.ceil(y1 * size)) + 1))


def _spine(p: AnatomyParams, x: FloatArray, y: FloatArray) -> FloatArray:
    size = x.shape[0]
    ws = 0.034
    out = np.zeros_like(x)
    c0, c1 = int((p.mx - 1.2 * ws) * size), int(np.ceil((p.mx + 1.2 * ws) * size)) + 1
    sl = (slice(None), slice(max(0, c0), min(size, c1)))
    xs, ys = x[sl], y[sl]
    dx = xs - p.mx
    col = np.sqrt(np.clip(1.0 - (dx / ws) ** 2, 0.0, 1.0))
    period = (p.dome_y[0] - p.apex_y) / 9.0
    phase = (ys - p.apex_y) / period
    disc = 0.55 + 0.45 * smoothstep(0.0, 0.25, np.abs(np.sin(np.pi * phase)))
    frac = phase - np.floor(phase) - 0.5
    pedicle = np.exp(-(((np.abs(dx) - 0.7 * ws) / 0.009) ** 2 + (frac / 0.18) ** 2))
    spinous = np.exp(-((dx / 0.006) ** 2 + ((frac - 0.15) / 0.22) ** 2))
    spine = 0.32 * col * disc + 0.16 * pedicle + 0.12 * spinous
    fade = smoothstep(0.0, 0.06, ys) * (1.0 - 0.6 * smoothstep(0.36, 0.6, ys))
    out[sl] = spine * fade
    return out


def _ribs(p: AnatomyParams, x: FloatArray, y: FloatArray) -> FloatArray:
    size = x.shape[0]
    out = np.zeros_like(x)
    spacing = (p.dome_y[0] - p.apex_y) / 8.2
    mid = round(p.mx * size)
    halves = {-1: slice(0, mid), 1: slice(mid, size)}
    for k in range(10):
        y0 = p.apex_y + 0.012 + p.rib_phase + k * spacing
        reach = float(thorax_half_width(p, np.array(y0 + 0.05, dtype=np.float32))) + 0.012
        half = 0.0062 + 0.0009 * k
        for side in (-1, 1):
            # posterior rib: leaves the spine, arches and curves down at the lateral wall
            sl = (_rows(size, y0 - 0.02, y0 + 0.16), halves[side])
            xs, ys = x[sl], y[sl]
            u = (xs - p.mx) * side / reach
            yc = y0 - 0.03 * u + 0.1 * u**2 + 0.6 * np.clip(u - 0.75, 0, None) ** 2
            band = (u < 1.02) & (np.abs(ys - yc) < 1.4 * half)
            taper = smoothstep(1.02, 0.95, u) * smoothstep(0.05, 0.12, u)
            out[sl] += 0.2 * _tube(ys - yc, half) * taper * band
            # anterior rib: fainter, slopes down toward the midline, invisible medially
            if 1 <= k <= 7:
                sl = (_rows(size, y0 + 0.07, y0 + 0.3), halves[side])
                xs, ys = x[sl], y[sl]
                u = (xs - p.mx) * side / reach
                yca = y0 + 0.085 + 0.2 * (1.0 - u) - 0.05 * (1.0 - u) ** 2
                half_a = 0.0085
                band_a = (u > 0.3) & (u < 1.0) & (np.abs(ys - yca) < 1.4 * half_a)
                fade = smoothstep(0.3, 0.65, u) * smoothstep(1.0, 0.95, u)
                out[sl] += 0.09 * _tube(ys - yca, half_a) * fade * band_a
    return out


def _clavicles(p: AnatomyParams, x: FloatArray, y: FloatArray) -> FloatArray:
    size = x.shape[0]
    out = np.zeros_like(x)
    sl = (_rows(size, p.apex_y - 0.06, p.apex_y + 0.12), slice(None))
    xs, ys = x[sl], y[sl]
    for side in (-1, 1):
        u = (xs - p.mx) * side / p.half_width
        yc = p.apex_y + 0.05 - 0.055 * u + 0.016 * np.sin(np.pi * np.clip(u, 0, 1.25) * 1.6)
        half = 0.0105 + 0.004 * np.exp(-(((u - 0.1) / 0.12) ** 2))
        band = (u > 0.06) & (u < 1.22) & (np.abs(ys - yc) < 1.3 * half)
        taper = smoothstep(1.22, 1.1, u) * smoothstep(0.06, 0.12, u)
        out[sl] += 0.38 * _tube((ys - yc) / half, 1.0) * taper * band
    return out


def _humeral_heads(p: AnatomyParams, x: FloatArray, y: FloatArray, bones: FloatArray) -> FloatArray:
    size = x.shape[0]
    r = 0.05
    cy = p.apex_y + 0.04
    sl = (_rows(size, cy - r, cy + r), slice(None))
    xs, ys = x[sl], y[sl]
    for side in (-1, 1):
        cx = p.mx + side * (p.half_width + p.body_margin + 0.005)
        rho = np.hypot(xs - cx, ys - cy) / r
        bones[sl] += 0.22 * np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0)) + 0.1 * np.exp(
            -(((rho - 0.95) / 0.08) ** 2)
        )
    return bones


def vessel_tree(
    rng: np.random.Generator, p: AnatomyParams, size: int
) -> tuple[FloatArray, FloatArray]:
    """Faint branching pulmonary vessels radiating from both hila.

    Returns:
        ``(vessels, hila)``: the vessel density (not yet restricted to aerated lung) and the
        hilar density.
    """
    s = float(size)
    thick: list[tuple[float, float, float, float, float]] = []
    thin: list[tuple[float, float, float, float, float]] = []
    x, y = unit_grid(size)
    hila = np.zeros((size, size), dtype=np.float32)
    for side in (-1, 1):
        hx = p.mx + side * rng.uniform(0.1, 0.125)
        hy = rng.uniform(0.4, 0.45)
        hila += np.exp(-(((x - hx) / 0.03) ** 2 + ((y - hy) / 0.045) ** 2)).astype(np.float32)
        n_roots = int(rng.integers(7, 10))
        angles = np.linspace(-2.3, 1.4, n_roots) + rng.normal(0, 0.15, n_roots)
        stack = []
        for a in angles:
            off = rng.uniform(0.01, 0.03)
            stack.append((hx + side * off * np.cos(a), hy + off * np.sin(a), float(a),
                          rng.uniform(0.05, 0.08), 0))
        while stack:
            x0, y0, ang, length, level = stack.pop()
            # angle 0 points laterally; negative angles point up
            # a gently curving branch made of three straight pieces
            w = 0.9 / (1.0 + 1.2 * level)
            for _ in range(3):
                ang += rng.normal(0, 0.15)
                x1 = x0 + side * length / 3 * np.cos(ang)
                y1 = y0 + length / 3 * np.sin(ang)
                (thick if level < 2 else thin).append((x0 * s, y0 * s, x1 * s, y1 * s, w))
                x0, y0 = x1, y1
            if level < 3:
                for da in (-0.4, 0.4):
                    stack.append(
                        (x1, y1, ang + da + rng.normal(0, 0.12),
                         length * rng.uniform(0.6, 0.8), level + 1)
                    )
    sig_thick, sig_thin = max(0.8, 0.0032 * s), max(0.6, 0.0018 * s)
    v = blur(splat_polylines((size, size), thick), sig_thick) * (2.5 * sig_thick)
    v += blur(splat_polylines((size, size), thin), sig_thin) * (2.5 * sig_thin)
    return np.clip(v, 0, 1.5).astype(np.float32), hila
