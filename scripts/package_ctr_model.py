"""Package the trained cardiothoracic-ratio regressor and measure it on fresh phantoms.

    .venv/bin/python scripts/package_ctr_model.py --trained runs/phantom-ctr-resnet18/bundle \
        --test data/phantom-test [--maps 40] [--methods ...] [--out resources/models/phantom-ctr-resnet18]

``--test`` is a ``radlens phantom`` folder generated with another seed than the training data
(its ``targets.csv`` holds the true ratios). Writes the bundle with float16 safetensors weights and
adds to its provenance:

* ``held_out``: MAE, RMSE, R² and Pearson r of the predicted ratio on every test image;
* ``map_location``: for each of ``--methods`` (``name`` or ``name@layer``), the share of the "raises"
  and "lowers" maps' top 5 % pixels in the heart-border band, at the heart's lateral extremes, in
  the heart interior, at the thorax's inner lateral margins and at its widest margins, on the first
  ``--maps`` test images, with each region's chance level (``scripts/ctr_map_location.py`` defines
  the regions and the band widths).
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
sys.path.insert(0, str(ROOT / "scripts"))

from ctr_map_location import DEFAULT_METHODS, Spec, load_cases, markdown, measure  # noqa: E402

from engine.models.bundle import load_model, save_bundle  # noqa: E402
from engine.models.manifest import ModelManifest  # noqa: E402

TARGET = ROOT / "resources" / "models" / "phantom-ctr-resnet18"


def evaluate(model: Any, test: Path, n_maps: int, methods: tuple[str, ...] = DEFAULT_METHODS) -> dict[str, Any]:
    """Held-out regression metrics and map-location shares (see the module docstring)."""
    from engine.io import load_image
    from engine.preprocess import to_model_input
    from training.config import DataConfig
    from training.metrics import regression_report
    from training.regression import read_regression_data

    data = read_regression_data(DataConfig(root=str(test), target_columns=("cardiothoracic_ratio",)))
    truth = json.loads((test / "truth.json").read_text(encoding="utf-8"))
    preds: list[float] = []
    for n, example in enumerate(data.examples):
        x, _, _ = to_model_input(load_image(example.path).display, model.manifest)
        with torch.no_grad():
            preds.append(float(model.module(x.to(model.device))[0, 0]))
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{len(data.examples)}", file=sys.stderr, flush=True)
    report = regression_report(data.label_matrix(), np.array(preds)[:, None], ["Cardiothoracic ratio"])
    cases = load_cases(test, n_maps)
    table = measure(model, cases, [Spec.parse(m) for m in methods], log=lambda s: print(s, file=sys.stderr))
    location = {
        "images": len(cases), "top": 0.05, "methods": table,
        "definition": "top5_share: share of the per-map min-max normalised map's top 5 % pixels (image pixels; "
                      "what top:0.05 boxes are cut from) in regions re-rendered from the case seeds: heart_border "
                      "(within band_px of the heart outline), heart_lateral (within band_px of the outline's "
                      "leftmost/rightmost extremes), heart_interior, thorax_lateral (within band_px of the "
                      "cavity's per-row left/right edges), thorax_widest (those edges at the cavity's widest "
                      "extremes); band_px = max(12, half a grid cell) on the 512 px film; chance = the region's "
                      "share of the image (scripts/ctr_map_location.py)",
    }
    return {"held_out": {"data": str(test), "seed": int(truth["seed"]), "n_images": len(data.examples), **report},
            "map_location": location}


def package(trained: Path, test: Path | None, n_maps: int, target: Path = TARGET,
            methods: tuple[str, ...] = DEFAULT_METHODS) -> Path:
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
        prov.update(evaluate(load_model(target), test, n_maps, methods))
        save_bundle(target, model.module, ModelManifest.from_dict({**data, "provenance": prov}),
                    weights_dtype=torch.float16, overwrite=True)
    print(f"wrote {target} ({(target / 'weights.safetensors').stat().st_size / 2**20:.1f} MiB)")
    if "held_out" in prov:
        m = prov["held_out"]["per_output"]["Cardiothoracic ratio"]
        print(f"held out ({prov['held_out']['n_images']} images): MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  "
              f"R2 {m['r2']:.4f}  r {m['pearson_r']:.4f}")
        print(markdown(prov["map_location"]["methods"]))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trained", type=Path, required=True, help="the bundle radlens train wrote")
    parser.add_argument("--test", type=Path, default=None, help="a fresh radlens phantom folder (held out)")
    parser.add_argument("--maps", type=int, default=40, help="test images whose maps are located (40)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated name[@layer]")
    parser.add_argument("--out", type=Path, default=TARGET, help="bundle folder to write")
    args = parser.parse_args(argv)
    package(args.trained, args.test, args.maps, args.out, tuple(m for m in args.methods.split(",") if m.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
