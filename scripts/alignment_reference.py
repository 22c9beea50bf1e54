"""Write the gradient probe's alignments of torchvision networks: the reference the layer arithmetic is tested against.

The probe (:func:`engine.explainers.alignment._probe`: the support of the gradient of the first and
the last grid cell, on 1x, 2x and 4x inputs) takes seconds to minutes per network and layer on a
CPU, too long for the test suite, so its answers are kept in
``tests/engine/data/alignment_probe_reference.json`` and ``tests/engine/test_alignment_arithmetic.py``
compares the layer arithmetic with them (and runs the probe itself on small cases).

Networks: untrained torchvision models seeded with ``torch.manual_seed(0)`` (ConvNeXt's layer scales set
to 1, see below), 3 channels, two classes;
sizes 224 x 224, 192 x 256 (non-square) and, for some networks, 200 x 232 (not a multiple of the
stride: there the probe's stride is input / grid, and the arithmetic must give the same answer).

Usage: ``nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python scripts/alignment_reference.py``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "tests" / "engine" / "data" / "alignment_probe_reference.json"

#: network -> stage outputs probed (the default CAM layer is the last of each)
LAYERS = {
    "resnet18": ["maxpool", "layer1", "layer2", "layer3", "layer4"],
    "resnet50": ["layer1", "layer2", "layer3", "layer4"],
    "densenet121": ["features.pool0", "features.transition1", "features.transition2", "features.denseblock3",
                    "features"],
    "efficientnet_b0": ["features.0", "features.1", "features.3", "features"],
    "convnext_tiny": ["features.0", "features.1", "features.3", "features.5", "features"],
    "vgg16": ["features.4", "features.16", "features.30", "features"],
    "mobilenet_v3_large": ["features.1", "features.3", "features.4", "features"],
}
SIZES = [(224, 224), (192, 256)]
#: networks also probed at a size that is not a multiple of their stride
ODD = {"resnet18": (200, 232), "vgg16": (200, 232), "convnext_tiny": (200, 232), "densenet121": (200, 232)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--nets", nargs="*", default=list(LAYERS))
    args = parser.parse_args(argv)
    import torch
    import torchvision

    from engine.atomic import atomic_write_text
    from engine.explainers.alignment import _probe

    torch.set_num_threads(1)
    records = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["net"], r["layer"], tuple(r["size"])) for r in records}
    for name in args.nets:
        torch.manual_seed(0)
        net = torchvision.models.get_model(name, weights=None, num_classes=2).eval()
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for pname, p in net.named_parameters():
                # ConvNeXt's initial weights are degenerate for the probe, not for a trained network: its
                # layer scales start at 1e-6, so the gradient of a field's outer taps (a product of several)
                # underflows to exactly 0 in float32 and the probe reads a narrower, lopsided field (8i+2.5
                # rows, 8j+5 columns at features.3); its LayerNorms start with equal weights, so the sum over
                # channels the probe differentiates is constant after the stem's norm (no field at all).
                if pname.endswith("layer_scale"):
                    p.fill_(1.0)
                elif name.startswith("convnext") and p.ndim == 1 and pname.endswith("weight") and torch.all(p == 1):
                    p.copy_(0.5 + torch.rand(p.shape, generator=gen))
        for size in [*SIZES, *([ODD[name]] if name in ODD else [])]:
            for layer in LAYERS[name]:
                if (name, layer, size) in done:
                    continue
                t = time.process_time()
                a = _probe(net, layer, torch.zeros(1, 3, *size), 0)
                spent = time.process_time() - t
                records.append({"net": name, "layer": layer, "size": list(size),
                                "alignment": a.to_dict() if a is not None else None, "probe_cpu_s": round(spent, 2)})
                print(name, layer, size, a, f"{spent:.1f}s", flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(args.out, json.dumps(records, indent=1) + "\n")  # progress survives an interruption
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
