"""Package the trained cardiothoracic-ratio regressor and measure it on fresh phantoms.

    .venv/bin/python scripts/package_ctr_model.py --trained runs/phantom-ctr-resnet18/bundle \
        --test data/phantom-test [--maps 40] [--out resources/models/phantom-ctr-resnet18]

``--test`` is a ``radlens phantom`` folder generated with another seed than the training data
(its ``targets.csv`` holds the true ratios). Writes the bundle with float16 safetensors weights and
adds to its provenance:

* ``held_out``: MAE, RMSE, R² and Pearson r of the predicted ratio on every test image;
* ``map_location``: where Grad-CAM's "raises" and "lowers" maps (layer3, per-map min-max, image
  pixels) put their mass, their top 5 % pixels and their maximum on the first ``--maps`` test
  images, against the anatomy the generator drew (re-rendered from each case's seed): the
  heart-border band (pixels within ``BAND`` of the heart outline), the heart interior, the thorax's
  lateral borders (within ``BAND`` of the cavity's left/right edges) and the rest; each region's
  share of the image area is the chance level a map spread evenly would reach.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models.bundle import load_model, save_bundle  # noqa: E402
from engine.models.manifest import ModelManifest  # noqa: E402

TARGET = ROOT / "resources" / "models" / "phantom-ctr-resnet18"
#: Half-width of the border bands, as a fraction of the image side (12 px on a 512 px film).
BAND = 12 / 512
REGIONS = ("heart_border", "heart_interior", "thorax_lateral_border", "elsewhere")
#: Share of a map's highest pixels counted by ``top5_share`` (the panel's default boxes, top:0.05).
TOP = 0.05


def _anatomy(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(heart mask, thoracic cavity mask) of test case ``index``, re-rendered from its seed."""
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


def regions(heart: np.ndarray, cavity: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint masks: heart-border band, heart interior, thorax lateral-border band, elsewhere."""
    from scipy import ndimage

    r = max(1, round(BAND * heart.shape[0]))
    disk = np.hypot(*np.mgrid[-r:r + 1, -r:r + 1]) <= r
    outline = heart ^ ndimage.binary_erosion(heart)
    border = ndimage.binary_dilation(outline, disk)
    interior = heart & ~border
    edges = np.zeros_like(cavity)
    for y in np.flatnonzero(cavity.any(axis=1)):
        xs = np.flatnonzero(cavity[y])
        edges[y, xs[0]] = edges[y, xs[-1]] = True
    lateral = ndimage.binary_dilation(edges, disk) & ~border & ~interior
    rest = ~(border | interior | lateral)
    return {"heart_border": border, "heart_interior": interior, "thorax_lateral_border": lateral, "elsewhere": rest}


def evaluate(model: Any, test: Path, n_maps: int) -> dict[str, Any]:
    """Held-out regression metrics and map-location shares (see the module docstring)."""
    import engine
    from engine.io import load_image
    from engine.preprocess import to_model_input
    from training.config import DataConfig
    from training.metrics import regression_report
    from training.regression import read_regression_data

    data = read_regression_data(DataConfig(root=str(test), target_columns=("cardiothoracic_ratio",)))
    truth = json.loads((test / "truth.json").read_text(encoding="utf-8"))
    seed, size = int(truth["seed"]), int(truth["config"]["size"])
    preds: list[float] = []
    shares: dict[str, dict[str, list[float]]] = {d: {k: [] for k in REGIONS} for d in ("raises", "lowers")}
    top_shares: dict[str, dict[str, list[float]]] = {d: {k: [] for k in REGIONS} for d in ("raises", "lowers")}
    peaks: dict[str, dict[str, list[float]]] = {d: {k: [] for k in REGIONS} for d in ("raises", "lowers")}
    chance: dict[str, list[float]] = {k: [] for k in REGIONS}
    for n, example in enumerate(data.examples):
        image = load_image(example.path)
        if n < n_maps:
            result = engine.explain(model, image, "gradcam")
            preds.append(result.value(0))
            masks = regions(*_anatomy(seed, int(example.image_id.split("_")[1]), size))
            for k, m in masks.items():
                chance[k].append(float(m.mean()))
            for d in ("raises", "lowers"):
                heat = np.clip(result.map(0, "image", direction=d), 0.0, None)
                total = float(heat.sum()) or 1.0
                top = heat >= np.quantile(heat, 1.0 - TOP)  # the pixels boxes are cut from at top:0.05
                peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
                for k, m in masks.items():
                    shares[d][k].append(float(heat[m].sum()) / total)
                    top_shares[d][k].append(float(m[top].mean()))
                    peaks[d][k].append(float(m[peak]))
        else:
            x, _, _ = to_model_input(image.display, model.manifest)
            with torch.no_grad():
                preds.append(float(model.module(x.to(model.device))[0, 0]))
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{len(data.examples)}", file=sys.stderr, flush=True)
    y = data.label_matrix()
    report = regression_report(y, np.array(preds)[:, None], ["Cardiothoracic ratio"])
    location = {
        "method": "gradcam", "layer": model.manifest.target_layer, "images": min(n_maps, len(data.examples)),
        "band_px_at_512": round(BAND * 512), "chance_share": {k: float(np.mean(v)) for k, v in chance.items()},
        "mass_share": {d: {k: float(np.mean(v)) for k, v in s.items()} for d, s in shares.items()},
        "top5_share": {d: {k: float(np.mean(v)) for k, v in s.items()} for d, s in top_shares.items()},
        "peak_in": {d: {k: float(np.mean(v)) for k, v in s.items()} for d, s in peaks.items()},
        "definition": "mass_share: share of the per-map min-max normalised map's mass (image pixels) in each "
                      "region; top5_share: share of the map's top 5 % pixels (what top:0.05 boxes are cut from); "
                      "peak_in: share of images whose map maximum lies in the region; regions re-rendered from the "
                      "case seeds; chance_share = the region's share of the image",
    }
    return {"held_out": {"data": str(test), "seed": seed, "n_images": len(data.examples), **report},
            "map_location": location}


def package(trained: Path, test: Path | None, n_maps: int, target: Path = TARGET) -> Path:
    """Write ``trained`` as a float16 bundle to ``target`` with the held-out figures."""
    model = load_model(trained)
    data = model.manifest.to_dict()
    prov = dict(data["provenance"])
    prov["weights_storage"] = "float16 safetensors (loaded into float32)"
    prov["trained_bundle_sha256"] = model.weights_sha256
    data["name"] = "RadLens phantom CTR ResNet-18"
    if target.exists():
        shutil.rmtree(target)
    save_bundle(target, model.module, ModelManifest.from_dict({**data, "provenance": prov}),
                weights_dtype=torch.float16)
    if test is not None:  # measured on the float16 bundle as shipped
        prov.update(evaluate(load_model(target), test, n_maps))
        save_bundle(target, model.module, ModelManifest.from_dict({**data, "provenance": prov}),
                    weights_dtype=torch.float16, overwrite=True)
    print(f"wrote {target} ({(target / 'weights.safetensors').stat().st_size / 2**20:.1f} MiB)")
    if "held_out" in prov:
        m = prov["held_out"]["per_output"]["Cardiothoracic ratio"]
        print(f"held out ({prov['held_out']['n_images']} images): MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  "
              f"R2 {m['r2']:.4f}  r {m['pearson_r']:.4f}")
        print(json.dumps(prov["map_location"], indent=1))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trained", type=Path, required=True, help="the bundle radlens train wrote")
    parser.add_argument("--test", type=Path, default=None, help="a fresh radlens phantom folder (held out)")
    parser.add_argument("--maps", type=int, default=40, help="test images whose maps are located (40)")
    parser.add_argument("--out", type=Path, default=TARGET, help="bundle folder to write")
    args = parser.parse_args(argv)
    package(args.trained, args.test, args.maps, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
