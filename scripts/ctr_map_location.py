"""Where a cardiothoracic-ratio model's "raises" and "lowers" maps sit, for several methods and layers.

    PYTHONPATH=. .venv/bin/python scripts/ctr_map_location.py --model resources/models/phantom-ctr-resnet18 \
        --test data/phantom-test [--maps 40] [--methods gradcam@layer3,gradient_x_input,...] [--json out.json]

The ratio is the heart's widest horizontal extent over the thorax's widest inner width
(``training.phantom.geometry``), so a model that measures it should find what *raises* the ratio at
the heart's left and right extremes and what *lowers* it at the thorax's inner lateral margins.
For each method (``name`` or ``name@layer``) this measures, on the first ``--maps`` images of a
held-out ``radlens phantom`` folder, the share of each map's top 5 % pixels (what the panel's
``top:0.05`` boxes are cut from; per-map min-max, image pixels) in regions re-rendered from each
case's seed (the anatomy the generator drew):

* ``heart_border``: pixels within the band of the heart outline;
* ``heart_lateral``: within the band of the outline's *lateral extremes*, the outline pixels no
  more than one band from the heart's leftmost or rightmost column (the ends of the width that
  the ratio's numerator measures);
* ``heart_interior``: inside the heart, outside the border band;
* ``thorax_lateral``: within the band of the cavity's per-row left/right edges (the inner rib
  margins), outside the heart regions;
* ``thorax_widest``: within the band of those edges no more than one band from the cavity's
  leftmost or rightmost column (the ends of the ratio's denominator).

``heart_lateral`` lies inside ``heart_border``; ``thorax_widest`` inside ``thorax_lateral``. The
band's half-width suits the map's resolution: ``max(12 px, half a grid cell)`` on the 512 px film
(12 px for pixel-level methods and layer2's 24 x 24 grid of a 192 px input, 21 px for layer3's
12 x 12 grid). A region's *chance* level is its share of the image: what a map spread evenly, or
placed at random, would reach.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Smallest band half-width on a 512 px film.
BAND_PX = 12
#: Share of a map's highest pixels counted (the panel's default boxes, top:0.05).
TOP = 0.05
REGIONS = ("heart_border", "heart_lateral", "heart_interior", "thorax_lateral", "thorax_widest")
#: The methods measured by default, in table order; SmoothGrad and IG at their research defaults.
DEFAULT_METHODS = (
    "gradcam@layer3", "gradcam@layer2", "layercam@layer3", "layercam@layer2", "xgradcam@layer3",
    "xgradcam@layer2", "gradient_x_input", "integrated_gradients", "smoothgrad", "saliency",
)


@dataclass(frozen=True)
class Spec:
    """One method to measure: registered name, CAM layer (or None) and extra parameters."""

    method: str
    layer: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method}@{self.layer}" if self.layer else self.method

    @classmethod
    def parse(cls, text: str) -> Spec:
        name, _, layer = text.partition("@")
        return cls(name.strip(), layer.strip() or None)


def band_px(grid: int | None, film: int = 512, model_input: int = 192) -> int:
    """Band half-width in film pixels for a map on a ``grid`` x ``grid`` grid (None: pixel-level)."""
    cells = grid if grid else model_input
    return max(round(BAND_PX * film / 512), round(0.5 * film / cells))


def _edges(mask: np.ndarray) -> np.ndarray:
    """The per-row leftmost and rightmost pixels of ``mask``."""
    out = np.zeros_like(mask, dtype=bool)
    for y in np.flatnonzero(mask.any(axis=1)):
        xs = np.flatnonzero(mask[y])
        out[y, xs[0]] = out[y, xs[-1]] = True
    return out


def _extremes(points: np.ndarray, mask: np.ndarray, band: int) -> np.ndarray:
    """``points`` within ``band`` columns of ``mask``'s leftmost or rightmost column."""
    cols = np.flatnonzero(mask.any(axis=0))
    out = np.zeros_like(points)
    if cols.size:
        xs = np.arange(mask.shape[1])[None, :]
        out = points & ((xs <= cols[0] + band) | (xs >= cols[-1] - band))
    return out


def regions(heart: np.ndarray, cavity: np.ndarray, band: int) -> dict[str, np.ndarray]:
    """The measured regions (module docstring) for a heart and thoracic-cavity mask."""
    from scipy import ndimage

    heart, cavity = heart.astype(bool), cavity.astype(bool)
    disk = np.hypot(*np.mgrid[-band:band + 1, -band:band + 1]) <= band
    outline = heart ^ ndimage.binary_erosion(heart)
    border = ndimage.binary_dilation(outline, disk)
    lateral = ndimage.binary_dilation(_extremes(outline, heart, band), disk)
    interior = heart & ~border
    edges = _edges(cavity)
    thorax = ndimage.binary_dilation(edges, disk) & ~border & ~interior
    widest = ndimage.binary_dilation(_extremes(edges, cavity, band), disk) & ~border & ~interior
    return {"heart_border": border, "heart_lateral": lateral, "heart_interior": interior,
            "thorax_lateral": thorax, "thorax_widest": widest}


def top_shares(heat: np.ndarray, masks: dict[str, np.ndarray], top: float = TOP) -> dict[str, float]:
    """Share of ``heat``'s top ``top`` pixels that fall in each mask (ties at the cut included).

    A map with fewer non-minimal pixels than ``top`` of the image (a sparse map) counts only those:
    its minimum is no evidence. An all-equal map counts nothing (every share 0).
    """
    cut = heat >= np.quantile(heat, 1.0 - top)
    cut &= heat > heat.min()
    if not cut.any():
        return {k: 0.0 for k in masks}
    return {k: float(m[cut].mean()) for k, m in masks.items()}


def anatomy(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(heart mask, thoracic cavity mask) of ``radlens phantom`` case ``index``, re-rendered from its seed."""
    from training.phantom.anatomy import render_anatomy
    from training.phantom.case import ENLARGED_CTR, NORMAL_CTR
    from training.phantom.config import CLASSES, PhantomConfig
    from training.phantom.dataset import case_seed

    config = PhantomConfig(size=size)
    rng = np.random.default_rng(case_seed(seed, index))
    present = {c: bool(rng.random() < config.prob(c)) for c in CLASSES}
    lo, hi = ENLARGED_CTR if present["Cardiomegaly"] else NORMAL_CTR
    anat = render_anatomy(rng, size, float(rng.uniform(lo, hi)))
    return anat.heart, anat.cavity


def measure(
    model: Any, images: Sequence[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]], specs: Sequence[Spec],
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Top-5 % shares per method, direction and region (means over ``images``), with chance levels.

    ``images`` holds (display image, (heart mask, cavity mask)) pairs in image pixels.
    """
    import engine
    from engine.explainers.api import layer_layout

    size = int(model.manifest.input_size[0])
    out: dict[str, Any] = {}
    for spec in specs:
        lay = layer_layout(model, spec.layer) if spec.layer else None
        grid = int(lay.grid[0]) if lay is not None else None
        sums: dict[str, dict[str, list[float]]] = {d: {k: [] for k in REGIONS} for d in ("raises", "lowers")}
        chance: dict[str, list[float]] = {k: [] for k in REGIONS}
        for image, (heart, cavity) in images:
            band = band_px(grid, heart.shape[0], size)
            masks = regions(heart, cavity, band)
            for k, m in masks.items():
                chance[k].append(float(m.mean()))
            result = engine.explain(model, image, spec.method, layers=spec.layer, **dict(spec.params))
            for d in ("raises", "lowers"):
                heat = np.asarray(result.map(0, "image", direction=d), dtype=np.float64)
                for k, v in top_shares(heat, masks).items():
                    sums[d][k].append(v)
        out[spec.label] = {
            "method": spec.method, "layer": spec.layer, "grid": grid,
            "band_px": band_px(grid, images[0][1][0].shape[0], size) if images else None,
            "chance": {k: float(np.mean(v)) for k, v in chance.items()},
            "top5_share": {d: {k: float(np.mean(v)) for k, v in s.items()} for d, s in sums.items()},
        }
        if log:
            t = out[spec.label]["top5_share"]
            c = out[spec.label]["chance"]
            log(f"{spec.label:24s} raises: border {t['raises']['heart_border']:.3f} (chance {c['heart_border']:.3f}) "
                f"lateral {t['raises']['heart_lateral']:.3f} ({c['heart_lateral']:.3f}) "
                f"interior {t['raises']['heart_interior']:.3f}; lowers: thorax {t['lowers']['thorax_lateral']:.3f} "
                f"({c['thorax_lateral']:.3f}) widest {t['lowers']['thorax_widest']:.3f} ({c['thorax_widest']:.3f})")
    return out


def load_cases(test: Path, n: int) -> list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]]:
    """The first ``n`` images of a ``radlens phantom`` folder with their re-rendered anatomy."""
    from engine.io import load_image

    truth = json.loads((test / "truth.json").read_text(encoding="utf-8"))
    seed, size = int(truth["seed"]), int(truth["config"]["size"])
    paths = sorted((test / "images").glob("phantom_*.dcm"))[:n]
    return [(load_image(p).display, anatomy(seed, int(p.stem.split("_")[1]), size)) for p in paths]


def markdown(table: dict[str, Any]) -> str:
    """The table docs/regression.md shows (percent of the top 5 % pixels; chance in brackets)."""
    rows = ["| method @ layer (band) | raises: heart border | raises: lateral heart extremes | raises: heart interior "
            "| lowers: thorax inner margins | lowers: widest thorax margins |", "|---|---|---|---|---|---|"]
    for label, r in table.items():
        t, c = r["top5_share"], r["chance"]

        def cell(d: str, k: str, t: dict[str, Any] = t, c: dict[str, float] = c) -> str:
            return f"{100 * t[d][k]:.1f} % ({100 * c[k]:.1f})"

        rows.append(f"| {label} ({r['band_px']} px) | {cell('raises', 'heart_border')} | "
                    f"{cell('raises', 'heart_lateral')} | {cell('raises', 'heart_interior')} | "
                    f"{cell('lowers', 'thorax_lateral')} | {cell('lowers', 'thorax_widest')} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from engine.models.bundle import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a regression bundle")
    parser.add_argument("--test", type=Path, required=True, help="a held-out radlens phantom folder")
    parser.add_argument("--maps", type=int, default=40, help="images measured (40)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated name[@layer]")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    model = load_model(args.model)
    cases = load_cases(args.test, args.maps)
    specs = [Spec.parse(s) for s in args.methods.split(",") if s.strip()]
    table = measure(model, cases, specs, log=lambda s: print(s, flush=True))
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
