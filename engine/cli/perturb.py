"""``radlens perturb``: replace the pixels an explanation points at and watch the probabilities.

One image: deletion and insertion curves (most relevant first, least relevant first, a random
band), their normalised AUCs and AOPC, every class's Δp, optionally a replaced region; writes
``perturb.json`` (the typed :class:`engine.perturb.result.PerturbationResult` serialised, schema
``radlens.perturbation`` 1), ``perturb.csv`` and ``curves.png``.

A data set (``--data DIR``): the research's Δp table per class (rows: the class whose pixels go;
columns: every class's change) at the research fractions; writes ``delta_p_table.json``/``.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import add_model_argument, parse_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", type=Path, help="image file (DICOM, PNG, JPEG, ...)")
    add_model_argument(parser)
    parser.add_argument("--method", default=None, help="explanation method whose map ranks the pixels "
                        "(default: the bundle's recommended method, else gradcam)")
    parser.add_argument("--layer", help="target layer (default: the model's)")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE", help="explanation method parameter")
    parser.add_argument("--class", dest="target", help="class whose pixels are replaced (default: top predicted)")
    parser.add_argument("--mode", default="mean", help="replacement: mean, dataset_mean, zero, blur, "
                        "gaussian_noise, uniform_noise, inpaint (default mean)")
    parser.add_argument("--mode-param", action="append", metavar="NAME=VALUE",
                        help="replacement parameter, e.g. ksize=21, sigma=3, value=0.45")
    parser.add_argument("--baseline", default="blur", help="insertion baseline mode (default blur, ksize=21)")
    parser.add_argument("--baseline-param", action="append", metavar="NAME=VALUE")
    parser.add_argument("--curves", choices=("radlens", "rise"), default=None,
                        help="named deletion fill + insertion baseline (overrides --mode/--baseline): radlens = image "
                             "mean + 21x21 blur (default); rise = normalised-input zeros + 11x11 sigma 5 blur "
                             "(Petsiuk et al. 2018)")
    parser.add_argument("--order", default="morf", choices=("morf", "lerf", "random"),
                        help="order the plain keys of perturb.json describe (morf and lerf are always run)")
    parser.add_argument("--fractions", help="comma-separated fractions, e.g. 0.02,0.05,0.1,0.2,0.5 "
                        "(default 0..1 in 21 steps; with --data the research's 2,5,10,20,50 %%)")
    parser.add_argument("--seeds", type=int, default=5, help="random orders in the band (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (noise modes, random orders)")
    parser.add_argument("--resolution", default="model", choices=("model", "image"),
                        help="replace pixels in the model input (default; fast) or in the original image")
    parser.add_argument("--patch", type=int, default=1,
                        help="rank p x p squares by their mean relevance instead of single pixels (default 1); "
                        "random orders then shuffle squares")
    parser.add_argument("--region", help="also replace a box x0,y0,x1,y1 (image pixels)")
    parser.add_argument("--robustness", action="store_true",
                        help="also run the global corruptions (severity 1-5): robustness.json/.csv")
    parser.add_argument("--robustness-layers", help="comma-separated layers whose map movement is measured")
    parser.add_argument("--corruptions", help="comma-separated corruptions for --robustness (default all five)")
    parser.add_argument("--severities", default="1,2,3,4,5", help="severities for --robustness (default 1,2,3,4,5)")
    parser.add_argument("--frame", type=int, default=0, help="frame of multi-frame images")
    parser.add_argument("--data", type=Path, help="a folder of images: write the Δp table per class instead")
    parser.add_argument("--annotations", type=Path, help="ground truth for --data (VinBigData/NIH/SIIM CSV)")
    parser.add_argument("--rows", choices=("predicted", "ground_truth", "correct"),
                        help="which classes of each image are rows (default: predicted; correct with annotations)")
    parser.add_argument("--out", type=Path, default=Path("radlens-perturb"), help="output folder")


def run(args: argparse.Namespace) -> int:
    if (args.image is None) == (args.data is None):
        print("radlens perturb: give one IMAGE or --data DIR", file=sys.stderr)
        return 2
    return _run_data(args) if args.data is not None else _run_image(args)


def _replacements(args: argparse.Namespace, norm_mean: Any = (0.0,)) -> tuple[Any, Any]:
    from engine.perturb.replace import Replacement

    if getattr(args, "curves", None):
        from engine.perturb.curves import curve_settings

        return curve_settings(args.curves, norm_mean)
    rep = Replacement.make(args.mode, **parse_params(args.mode_param))
    base_params = parse_params(args.baseline_param)
    if args.baseline == "blur" and not base_params:
        base_params = {"ksize": 21}
    return rep, Replacement.make(args.baseline, **base_params)


def _fractions(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--fractions expects numbers separated by commas, got {text!r}") from None


def _run_image(args: argparse.Namespace) -> int:
    import engine
    from engine.atomic import atomic_write_text
    from engine.errors import UnknownClassError
    from engine.io import load_image
    from engine.perturb.curves import run_curves
    from engine.perturb.document import build_document, curves_csv, write_document
    from engine.perturb.lab import PerturbationLab
    from engine.perturb.plots import plot_curves

    model = engine.load_model(args.model, device=args.device)
    args.method = args.method or model.manifest.method or "gradcam"  # the bundle's recommendation
    image = load_image(args.image, frame=args.frame)
    rep, baseline = _replacements(args, model.manifest.mean)
    if args.target is None:
        import torch

        from engine.perturb.frame import make_frame

        frame = make_frame(model, image, "model")
        probs = frame.probabilities(torch.from_numpy(frame.base[None]))[0]
    target = args.target or model.class_names[int(probs.argmax())]
    matches = [c for c in model.class_names if c.lower() == target.lower()]
    if not matches:
        raise UnknownClassError(f"unknown class {target!r}; the model's classes are {', '.join(model.class_names)}.")
    target = matches[0]
    result = engine.explain(model, image, args.method, classes=[target], layers=args.layer, **parse_params(args.param))
    if args.resolution == "model":
        lab = PerturbationLab(model, image, model_map=result.map(target, "model"), resolution="model",
                              patch=args.patch)
    else:
        lab = PerturbationLab(model, image, result.map(target, "image"), resolution="image", patch=args.patch)
    orders = ("morf", "lerf", "random") if args.order == "random" else ("morf", "lerf")
    seeds = [args.seed + i for i in range(max(0, args.seeds))]
    curves = run_curves(lab, target, orders=orders, replacement=rep, baseline=baseline,
                        fractions=_fractions(args.fractions), seeds=seeds, seed=args.seed)
    region, box = None, None
    if args.region:
        box = [float(v) for v in args.region.split(",")]
        if len(box) != 4:
            raise SystemExit("--region expects x0,y0,x1,y1")
        region = lab.region(box, rep, args.seed)
    doc = build_document(model, image=str(args.image), target=target, order=args.order, replacement=rep,
                         resolution=args.resolution, seed=args.seed, original=lab.original, method=result.method,
                         layer=result.layers[0] if result.layers else None, curves=curves, region=region,
                         region_box=box, patch=lab.patch)
    args.out.mkdir(parents=True, exist_ok=True)
    write_document(doc, args.out / "perturb.json")
    atomic_write_text(args.out / "perturb.csv", curves_csv(curves))
    plot_curves(curves, args.out / "curves.png", title=f"{Path(args.image).name}: {target}, {result.method}")
    rnd, summary = doc.random, doc.summary
    score = (f"value={lab.original[curves.t]:.3f}{' ' + curves.unit if curves.unit else ''}" if curves.regression
             else f"p={lab.original[curves.t]:.3f}")
    print(f"{args.image}: {target} {score}; {args.order}: deletion AUC "
          f"{summary.deletion_auc:.3f}, insertion AUC {summary.insertion_auc:.3f}, AOPC {summary.aopc:.3f}")
    if rnd is not None:
        print(f"  random ({len(seeds)} seeds): deletion AUC {rnd.deletion_auc_mean:.3f} ± "
              f"{rnd.deletion_auc_sd:.3f}, insertion AUC {rnd.insertion_auc_mean:.3f} ± "
              f"{rnd.insertion_auc_sd:.3f}")
    if doc.region is not None:
        print("  region: " + ", ".join(f"{c} Δp {v:+.3f}" for c, v in doc.region.delta_p.items()))
    print(f"wrote {args.out / 'perturb.json'}, perturb.csv, curves.png")
    if args.robustness:
        _run_robustness(args, model, image)
    return 0


def _run_robustness(args: argparse.Namespace, model: Any, image: Any) -> None:
    import csv
    import io
    import json

    from engine.atomic import atomic_write_text
    from engine.perturb.robustness import robustness

    layers = [v.strip() for v in args.robustness_layers.split(",")] if args.robustness_layers else None
    from engine.perturb.corruptions import CORRUPTIONS

    corruptions = [v.strip() for v in args.corruptions.split(",")] if args.corruptions else list(CORRUPTIONS)
    try:
        severities = [int(v) for v in args.severities.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--severities expects integers 1-5, got {args.severities!r}") from None
    doc = robustness(model, image, method=args.method, layers=layers or ([args.layer] if args.layer else None),
                     corruptions=corruptions, severities=severities, seed=args.seed,
                     method_params=parse_params(args.param))
    atomic_write_text(args.out / "robustness.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["corruption", "severity", "class", "p", "delta_p", "layer", "map_rmse", "map_ssim"])
    for e in doc["results"]:
        for c in doc["classes"]:
            for layer in doc["layers"]:
                m = e["maps"][layer][c]
                w.writerow([e["corruption"], e["severity"], c, f"{e['probabilities'][c]:.6f}",
                            f"{e['delta_p'][c]:.6f}", layer, _cell(m["rmse"]), _cell(m["ssim"])])
    atomic_write_text(args.out / "robustness.csv", buf.getvalue())
    print(f"wrote {args.out / 'robustness.json'} and robustness.csv ({len(doc['results'])} corrupted images)")


def _run_data(args: argparse.Namespace) -> int:
    import json

    import engine
    from engine.atomic import atomic_write_text
    from engine.errors import RadLensError
    from engine.io import load_image
    from engine.io.study import scan_folder
    from engine.perturb.curves import RESEARCH_FRACTIONS
    from engine.perturb.dataset import delta_table, table_document

    model = engine.load_model(args.model, device=args.device)
    args.method = args.method or model.manifest.method or "gradcam"  # the bundle's recommendation
    rep, _ = _replacements(args, model.manifest.mean)
    rows = args.rows or ("correct" if args.annotations else "predicted")
    gt: dict[str, Any] = {}
    if args.annotations:
        from engine.annotations import image_key, read_annotations

        gt = {image_key(k): v for k, v in read_annotations(args.annotations).items()}
    index = scan_folder(args.data)
    paths = sorted(img.path for s in index.iter_series() for img in s.images)
    if not paths:
        raise RadLensError("holds no image RadLens can read.", path=args.data,
                           fix="point --data at a folder of images.")

    def items():
        from engine.annotations import image_key

        for p in paths:
            classes = None
            if args.annotations:
                entry = gt.get(image_key(p))
                classes = list(entry.classes) if entry is not None else []
            yield str(p), load_image(p, frame=args.frame), classes

    table = delta_table(model, items(), method=args.method, layer=args.layer, replacement=rep,
                        fractions=_fractions(args.fractions) or RESEARCH_FRACTIONS, order=args.order, rows=rows,
                        resolution=args.resolution, seed=args.seed, method_params=parse_params(args.param),
                        patch=args.patch,
                        on_image=lambda n, r: print(f"{n}: rows {', '.join(r) or '-'}", file=sys.stderr))
    doc = table_document(table, model, method=args.method, replacement=rep, order=args.order, rows=rows,
                         resolution=args.resolution, seed=args.seed, data=args.data, patch=args.patch)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "delta_p_table.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
    atomic_write_text(args.out / "delta_p_table.csv", table.to_csv())
    print(table.to_text())
    print(f"wrote {args.out / 'delta_p_table.json'} and delta_p_table.csv ({len(paths)} images, rows: {rows})")
    return 0


def _cell(v: float | None) -> str:
    """A map movement for the CSV: empty where the clean map was flat."""
    return "" if v is None else f"{v:.6f}"
