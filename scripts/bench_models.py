"""Benchmark: the receptive-field alignment of a newly loaded model (first and second start), and ViT CAMs.

For ResNet-50, EfficientNet-B0, ConvNeXt-T and DenseNet-121 (torchvision, 224 x 224, default CAM
layer) it times the original gradient probe, the fast probe (the first start before the layer
arithmetic), the layer arithmetic at a first start (a fresh Python process that has imported RadLens
and built the network, no cache), and the second start (the answer read back from the disk cache),
and checks that all give the same alignment (so maps and boxes are unchanged). For torchvision
ViT-B/16 it times Grad-CAM at the default layer (patch-centre alignment, no probe) against
pytorch-grad-cam with its reshape_transform.

Prints the section; with ``--write`` also replaces its section of docs/benchmarks.md.
Usage: ``nice -n 10 .venv/bin/python scripts/bench_models.py [--write]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

NETS = ("resnet50", "efficientnet_b0", "convnext_tiny", "densenet121")


def _timed(fn: Any) -> tuple[Any, float]:
    """The result and the CPU seconds of this process (fair on a shared machine; one torch thread)."""
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def first_start(arch: str) -> dict[str, Any]:
    """In this (fresh) process: build ``arch`` and time its default layer's alignment, no cache."""
    import torch
    import torchvision

    torch.set_num_threads(1)
    from engine.explainers import alignment as al
    from engine.explainers.api import default_layer
    from engine.models.bundle import LoadedModel, state_dict_sha256

    torch.manual_seed(0)
    net = torchvision.models.get_model(arch, weights=None, num_classes=2).eval()
    model = LoadedModel.from_module(net, _manifest(arch))
    layer = default_layer(model)
    sha = state_dict_sha256(net.state_dict())
    x = torch.zeros(1, 3, 224, 224)
    a, t = _timed(lambda: al.measure_alignment(model.module, layer, x, disk_key=sha))
    _, t_gc = _timed(gc.collect)  # the full collection the passes may have put off (heap-sized, not net-sized)
    return {"alignment": a.to_dict() if a is not None else None, "cpu_s": t, "gc_s": t_gc}


def _manifest(arch: str) -> Any:
    from engine.models.manifest import ModelManifest

    return ModelManifest(name=arch, version="0", architecture=arch, class_names=("a", "b"), input_size=(224, 224))


def _first_start_elsewhere(arch: str) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RADLENS_CACHE_DIR": tempfile.mkdtemp(prefix="radlens-bench-first-")}
    out = subprocess.run([sys.executable, __file__, "--first-start", arch], capture_output=True, text=True,
                         check=True, env=env, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--nets", nargs="*", default=list(NETS), help="torchvision models to probe")
    parser.add_argument("--first-start", metavar="ARCH", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)
    if args.first_start:
        print(json.dumps(first_start(args.first_start)))
        return 0
    os.environ["RADLENS_CACHE_DIR"] = tempfile.mkdtemp(prefix="radlens-bench-cache-")
    import numpy as np
    import torch
    import torchvision

    torch.set_num_threads(1)

    from engine.explainers import alignment as al
    from engine.explainers import explain
    from engine.explainers.api import default_layer
    from engine.models.bundle import LoadedModel, state_dict_sha256
    from engine.sampling import GridAlignment

    manifest = _manifest
    rows = []
    x = torch.zeros(1, 3, 224, 224)
    for arch in args.nets:
        child = _first_start_elsewhere(arch)  # first: the layer arithmetic in a fresh process
        torch.manual_seed(0)
        net = torchvision.models.get_model(arch, weights=None, num_classes=2).eval()
        model = LoadedModel.from_module(net, manifest(arch))
        layer = default_layer(model)
        sha = state_dict_sha256(net.state_dict())
        old, t_old = _timed(lambda m=model.module, la=layer: al._probe(m, la, x, 0, fast=False))
        fast, t_fast = _timed(lambda m=model.module, la=layer: al._probe(m, la, x, 0, fast=True))
        new, t_new = _timed(lambda m=model.module, la=layer, k=sha: al.measure_alignment(m, la, x, disk_key=k))
        # second start: a new process holds a new module; the answer comes from the disk cache
        fresh = torchvision.models.get_model(arch, weights=None, num_classes=2).eval()
        again, t_second = _timed(lambda m=fresh, la=layer, k=sha: al.measure_alignment(m, la, x, disk_key=k))
        first = GridAlignment.from_dict(child["alignment"]) if child["alignment"] else None
        same = old == fast == new == again == first
        rows.append((arch, layer, old, t_old, t_fast, child["cpu_s"], t_second, same, child["gc_s"]))
        print(arch, layer, old, f"original {t_old:.2f}s fast probe {t_fast:.2f}s arithmetic first start "
              f"{child['cpu_s']:.3f}s (in this process {t_new:.3f}s) second {t_second * 1000:.1f}ms same={same}",
              flush=True)

    # ViT-B/16: Grad-CAM at the default layer, ours against pytorch-grad-cam (same network and layer)
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from engine.preprocess import to_model_input

    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(weights=None, num_classes=2).eval()
    peer = torchvision.models.vit_b_16(weights=None, num_classes=2).eval()
    peer.load_state_dict(vit.state_dict())
    vmodel = LoadedModel.from_module(vit, manifest("vit_b_16"))
    vlayer = default_layer(vmodel)
    image = np.random.default_rng(0).random((224, 224)).astype(np.float32)
    explain(vmodel, image, "gradcam")  # warm-up (layer listing, head check)
    ours = []
    for _ in range(3):
        _res, t = _timed(lambda: explain(vmodel, image, "gradcam", classes=[0]))
        ours.append(t)
    xin, _, _ = to_model_input(image, vmodel.manifest)

    def reshape(t: torch.Tensor) -> torch.Tensor:
        return t[:, 1:, :].reshape(t.size(0), 14, 14, t.size(2)).permute(0, 3, 1, 2)

    theirs = []
    with GradCAM(model=peer, target_layers=[peer.get_submodule(vlayer)], reshape_transform=reshape) as cam:
        cam(input_tensor=xin.clone(), targets=[ClassifierOutputTarget(0)])
        for _ in range(3):
            _, t = _timed(lambda: cam(input_tensor=xin.clone(), targets=[ClassifierOutputTarget(0)]))
            theirs.append(t)
    rollout_t = [_timed(lambda: explain(vmodel, image, "rollout"))[1] for _ in range(2)]

    from benchdoc import machine, write_section

    load = os.getloadavg()
    lines = [
        "## Model loading: receptive-field alignment of a new model, and ViT CAMs",
        "",
        f"Machine: {machine()}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(the machine is shared, so every time below is CPU seconds of this process, one torch thread).",
        "Untrained torchvision networks, 224 x 224, 3 channels, default CAM layer. *original probe*: the gradient "
        "probe as first written (two backward passes per input size, up to 1x, 2x and 4x inputs); *fast probe*: "
        "one backward per size and a global-pooling shortcut (the first start before the layer arithmetic); "
        "*first start*: the layer arithmetic (engine/explainers/fields.py: one shape-only pass per input size, no "
        "values) in a fresh Python process that has imported RadLens and built the network, no cache; *second "
        "start*: a new module of the same weights reads the answer back from the user's cache folder; *same*: "
        "all four give the same alignment; *full GC*: the passes pause Python's cyclic garbage collector, and "
        "a full collection then costs this in the same fresh process (it depends on the size of the process's "
        "heap, not on the network, and would fall due during the first explanation anyway). The peers "
        "(pytorch-grad-cam, torchcam) do not align at all (tile centres, 0 s).",
        "",
        "| network | default layer | alignment | original probe (s) | fast probe (s) | first start (s) "
        "| second start (ms) | same | full GC (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arch, layer, a, t_old, t_fast, t_first, t_second, same, t_gc in rows:
        where = (f"{a.source}: {a.ay:g}i{a.by:+g}" if a is not None else "none")
        lines.append(f"| {arch} | `{layer}` | {where} | {t_old:.2f} | {t_fast:.2f} | {t_first:.3f} | "
                     f"{t_second * 1000:.1f} | {'yes' if same else 'NO'} | {t_gc:.2f} |")
    lines += [
        "",
        f"Goal ≤ 0.3 s for each at a first start: {'met' if all(r[5] <= 0.3 for r in rows) else 'NOT met'} "
        f"(max {max(r[5] for r in rows):.3f} s); second start max {max(r[6] for r in rows) * 1000:.1f} ms.",
        "",
        f"ViT-B/16 (torchvision, untrained), Grad-CAM of one class at `{vlayer}` (tokens 1+196 → 14×14, patch-centre "
        "alignment, no probe): RadLens "
        f"{np.median(ours) * 1000:.0f} ms, pytorch-grad-cam with its reshape_transform "
        f"{np.median(theirs) * 1000:.0f} ms "
        f"(median of 3); attention rollout {np.median(rollout_t) * 1000:.0f} ms.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        print("wrote", write_section("bench_models", body))
    return 0 if all(r[7] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
