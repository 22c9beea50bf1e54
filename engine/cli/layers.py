"""``radlens layers``: the layers of a model that CAM methods can use."""

from __future__ import annotations

import argparse
import json

from engine.cli.common import add_model_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from engine.explainers.api import list_layers
    from engine.models.bundle import load_model

    model = load_model(args.model, device=args.device)
    layers = list_layers(model)
    if args.json:
        print(json.dumps([{"name": la.name, "type": la.type, "output_shape": list(la.output_shape),
                           "layout": la.layout, "default": la.is_default} for la in layers], indent=1))
        return 0
    print(f"{model.name} {model.version} ({model.manifest.architecture}), input {model.manifest.input_size}")
    width = max([32, *(len(la.name) + 1 for la in layers)])
    print(f"{'layer':<{width}} {'type':<20} {'output shape':<18} {'layout':<30}")
    for la in layers:
        mark = "  <- default" if la.is_default else ""
        print(f"{la.name:<{width}} {la.type:<20} {la.output_shape!s:<18} {la.layout:<30}{mark}")
    return 0
