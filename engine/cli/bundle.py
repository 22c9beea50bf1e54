"""``radlens bundle create|check``: a model bundle from a checkpoint, and a full check of a bundle."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from engine.models.check import BundleCheck


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bundle_command", metavar="ACTION")
    create = sub.add_parser("create", help="build a bundle from a checkpoint (state_dict in .pth/.pt/.safetensors)",
                            description="Build a model bundle from a checkpoint. The file is read without "
                            "unpickling objects; wrapper prefixes (module., model., backbone., net.) are removed.")
    create.add_argument("--architecture", required=True, help="torchvision model name (resnet18, densenet121, ...)")
    create.add_argument("--weights", required=True, type=Path,
                        help="checkpoint: .safetensors, or a state_dict .pth/.pt/.ckpt")
    create.add_argument("--classes", required=True, help="a,b,c or a file with one class name a line (head order)")
    create.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="network input (default 224 224)")
    create.add_argument("--in-channels", type=int, choices=(1, 3),
                        help="default: what the checkpoint's first convolution takes")
    create.add_argument("--task", default="multilabel", choices=("multilabel", "multiclass", "regression"))
    create.add_argument("--mean", nargs="+", type=float, help="normalisation mean per channel (pixels in [0, 1])")
    create.add_argument("--std", nargs="+", type=float, help="normalisation std per channel")
    create.add_argument("--resize", default="stretch", choices=("stretch", "letterbox"))
    create.add_argument("--name", help="model name (default: architecture and checkpoint name)")
    create.add_argument("--version", default="1.0", help="model version (default 1.0)")
    create.add_argument("--target-layer", help="default CAM layer (default: the last spatial layer)")
    create.add_argument("--head", choices=("gap",),
                        help="classifier head: gap = a VGG/AlexNet with global average pooling and one linear "
                        "layer (VGG-GAP); default: the architecture's own")
    create.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    create.add_argument("--force", action="store_true", help="replace a non-empty --out")
    create.add_argument("--out", required=True, type=Path, help="bundle folder to write")
    check = sub.add_parser("check", help="load a bundle, run it on a synthetic image, list every problem",
                           description="Check a bundle and report every problem at once, each with its fix.")
    check.add_argument("bundle", type=Path, help="bundle folder (or its model.json)")
    check.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.bundle_command == "create":
        return _create(args)
    if args.bundle_command == "check":
        return _check(args)
    print("radlens bundle: give an action: create or check (see radlens bundle -h)", file=sys.stderr)
    return 2


def _create(args: argparse.Namespace) -> int:
    from engine.models.create import create_bundle, parse_classes

    command = "radlens " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bundle"] else ""
    made = create_bundle(
        args.architecture, args.weights, parse_classes(args.classes), args.out,
        input_size=tuple(args.input_size) if args.input_size else None, in_channels=args.in_channels,
        task=args.task, mean=args.mean, std=args.std, resize=args.resize, name=args.name, version=args.version,
        target_layer=args.target_layer, half=args.half, force=args.force, command=command, head=args.head,
    )
    m = made.manifest
    print(f"wrote {made.path}: {m.name} {m.version} ({m.architecture}, {m.num_classes} classes, "
          f"{m.in_channels} channel(s), input {m.input_size[0]} x {m.input_size[1]}, {m.task})")
    if made.removed_prefixes:
        print(f"  removed prefixes: {', '.join(made.removed_prefixes)}")
    if made.ignored:
        print(f"  left out (not part of the model): {', '.join(made.ignored)}")
    for note in made.notes:
        print(f"  {note}")
    print(f"  check it with: radlens bundle check {shlex.quote(str(made.path))}")
    return 0


def check(path: str | Path) -> BundleCheck:
    """:func:`engine.models.check.check_bundle`, then a forward pass and the CAM layers when the weights load."""
    from engine.models.check import check_bundle

    report = check_bundle(path)
    if report.module is not None:
        run_forward(report, report.module, report.manifest, report.path)
    return report


def _check(args: argparse.Namespace) -> int:
    report = check(args.bundle)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return 0 if report.ok else 1
    info = report.info
    if info:
        print(f"{report.path}: {info.get('architecture')}, {len(info.get('classes', []))} classes, "
              f"{info.get('in_channels')} channel(s), input {info.get('input_size')}, {info.get('task')}")
    if report.output_shape is not None:
        rng = report.probability_range
        span = f", probabilities {rng[0]:.3f} .. {rng[1]:.3f}" if rng else ""
        print(f"forward pass on a synthetic image: output {report.output_shape}{span}")
    if report.layers:
        print(f"CAM layers ({len(report.layers)}):")
        print(f"  {'layer':<32} {'type':<20} {'output (C, H, W)':<18}")
        for name, kind, shape, default in report.layers:
            print(f"  {name:<32} {kind:<20} {shape!s:<18}{'  <- default' if default else ''}")
    if report.ok:
        print("OK: no problem found")
        return 0
    print(f"{len(report.problems)} problem(s):", file=sys.stderr)
    for i, p in enumerate(report.problems, 1):
        print(f"  {i}. {p.what}\n     fix: {p.fix}", file=sys.stderr)
    return 1


def run_forward(report: BundleCheck, module: torch.nn.Module, manifest: Any, folder: Path) -> None:
    """A forward pass on a synthetic image (a smooth gradient with a bright disc) and the CAM layers."""
    import numpy as np
    import torch

    from engine.errors import RadLensError
    from engine.explainers.api import list_layers
    from engine.models.bundle import LoadedModel
    from engine.preprocess import to_model_input

    h, w = manifest.input_size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = 0.3 + 0.4 * xx / max(w - 1, 1) + 0.3 * (((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 6) ** 2)
    x, _geometry, _scaling = to_model_input(np.clip(image, 0, 1), manifest)
    try:
        with torch.no_grad():
            out = module(x)
    except (RuntimeError, ValueError, TypeError) as exc:
        report.add(f"the forward pass on a synthetic {h} x {w} image failed ({str(exc).splitlines()[0]}).",
                   "check input_size and in_channels against how the network was trained.")
        return
    if not isinstance(out, torch.Tensor):
        report.add(f"the network returns a {type(out).__name__}, not one tensor of scores.",
                   "wrap the network so that forward returns the logits only.")
        return
    report.output_shape = tuple(out.shape)
    if tuple(out.shape) != (1, manifest.num_classes):
        report.add(f"the output has shape {tuple(out.shape)}, not (1, {manifest.num_classes}).",
                   "the head must give one score per class in class_names.")
        return
    if not torch.isfinite(out).all():
        report.add("the forward pass gives NaN or infinite scores.", "export the weights of a good epoch.")
        return
    probs = torch.softmax(out, 1) if manifest.task == "multiclass" else torch.sigmoid(out)
    report.probability_range = (float(probs.min()), float(probs.max()))
    model = LoadedModel(module.requires_grad_(False), manifest, report.info.get("weights_sha256", ""), folder)
    if manifest.target_layer and manifest.target_layer not in dict(module.named_modules()):
        manifest = _without_target(manifest)  # reported by check_bundle; list the layers all the same
        model = LoadedModel(module, manifest, model.weights_sha256, folder)
    try:
        report.layers = [(la.name, la.type, la.output_shape, la.is_default) for la in list_layers(model)]
    except RadLensError as exc:
        report.add(exc.problem, exc.fix or "CAM methods will not run on this network; gradient methods will.")


def _without_target(manifest: Any) -> Any:
    import dataclasses

    return dataclasses.replace(manifest, target_layer=None)
