"""Package a trained phantom bundle as RadLens's bundled default model, and make the demo study.

    .venv/bin/python scripts/package_default_model.py --trained runs/phantom-resnet18/bundle \
        [--evaluation docs/evaluation/evaluation.json] [--out FOLDER]

Writes ``resources/models/phantom-resnet18/`` (weights stored as float16 safetensors, so the
bundle stays under 30 MB; they load into the float32 network) and ``resources/demo/`` (six phantom
DICOMs read by three simulated radiologists each, with their VinBigData-format ``train.csv``).
With ``--evaluation`` the held-out figures from ``radlens evaluate`` go into the manifest's
provenance and the model card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models.bundle import load_model, save_bundle  # noqa: E402
from engine.models.manifest import ModelManifest  # noqa: E402

TARGET = ROOT / "resources" / "models" / "phantom-resnet18"
DEMO = ROOT / "resources" / "demo"


def package(trained: Path, evaluation: Path | None, target: Path = TARGET,
            name: str = "RadLens phantom ResNet-18") -> Path:
    """Write ``trained`` as a float16 bundle to ``target``, with the held-out figures if given."""
    model = load_model(trained)
    data = model.manifest.to_dict()
    prov = dict(data["provenance"])
    prov["weights_storage"] = "float16 safetensors (loaded into float32)"
    prov["trained_bundle_sha256"] = model.weights_sha256
    if evaluation is not None:
        prov["held_out_evaluation"] = json.loads(evaluation.read_text(encoding="utf-8"))
    data["provenance"] = prov
    data["name"] = name
    manifest = ModelManifest.from_dict(data)
    if target.exists():
        shutil.rmtree(target)
    save_bundle(target, model.module, manifest, weights_dtype=torch.float16)
    print(f"wrote {target} ({(target / 'weights.safetensors').stat().st_size / 2**20:.1f} MiB)")
    return target


def demo_study() -> Path:
    from training.phantom import CLASSES, PhantomConfig
    from training.phantom.dataset import generate_dataset

    if DEMO.exists():
        shutil.rmtree(DEMO)
    # findings more frequent than in training data so the demo shows most of them
    config = PhantomConfig(size=512, n_annotators=(3, 3), finding_probs=dict.fromkeys(CLASSES, 0.4))
    generate_dataset(DEMO, 6, seed=3, config=config, fmt="dicom")
    print(f"wrote {DEMO}")
    return DEMO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trained", type=Path, help="bundle folder written by radlens train")
    parser.add_argument("--evaluation", type=Path, help="evaluation.json from radlens evaluate (held-out set)")
    parser.add_argument("--out", type=Path, default=TARGET,
                        help="bundle folder to write (default resources/models/phantom-resnet18)")
    parser.add_argument("--name", default="RadLens phantom ResNet-18",
                        help="model name written into the bundle (e.g. 'RadLens phantom DenseNet-121')")
    parser.add_argument("--demo", action="store_true", help="(re)generate resources/demo")
    args = parser.parse_args()
    if args.trained:
        package(args.trained, args.evaluation, args.out, args.name)
    if args.demo:
        demo_study()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
