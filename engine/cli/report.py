"""``radlens report``: explain one image and write the PDF explanation report.

The report is built by :func:`engine.report.build_report_input`, the same path the viewer's
"Export report…" takes, and written atomically: on any error nothing is left at ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import add_map_arguments, add_model_argument, parse_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the image file (DICOM, PNG, JPEG, TIFF, NIfTI, ...)")
    add_model_argument(parser)
    parser.add_argument("--method", default=None, help="explanation method (see radlens explain --list-methods); "
                        "default: the bundle's recommended method, else gradcam")
    parser.add_argument("--classes", default="predicted",
                        help="comma-separated class names, 'all', or 'predicted' (the default: positive classes)")
    add_map_arguments(parser)
    parser.add_argument("--perturbation", type=Path, help="perturb.json written by radlens perturb (adds its section)")
    parser.add_argument("--deidentify", action="store_true", help="leave out names, IDs, UIDs, dates and the file name")
    parser.add_argument("--colormap", default="jet", help="matplotlib colour map for the heatmaps")
    parser.add_argument("--frame", type=int, default=0, help="frame of multi-frame images")
    parser.add_argument("--out", type=Path, default=Path("report.pdf"), help="the PDF to write (default report.pdf)")
    parser.add_argument("--dicom-out", type=Path, help="also write the results as DICOM into this folder: TID 1500 SR, "
                        "parametric map, secondary captures and the report as Encapsulated PDF (docs/dicom-export.md)")


def run(args: argparse.Namespace) -> int:
    import engine
    from engine.analysis import localise
    from engine.annotations import image_key, read_annotations
    from engine.cli.explain import _annotations_for
    from engine.io import load_image
    from engine.report import build_report_input, write_report
    from engine.report.errors import ReportError

    image = load_image(args.image, frame=args.frame)
    model = engine.load_model(args.model, device=args.device)
    args.method = args.method or model.manifest.method or "gradcam"  # the bundle's recommendation
    named = None if args.classes in ("all", "predicted") else [c.strip() for c in args.classes.split(",") if c.strip()]
    if named is not None:
        _check_classes(named, model, args.classes)
    perturbation = _read_perturbation(args.perturbation) if args.perturbation else None
    gt_all: dict[str, Any] = {}
    if args.annotations:
        gt_all = {image_key(k): v for k, v in read_annotations(args.annotations).items()}
    boxes = _annotations_for(args.image, image, gt_all)
    if args.annotations and boxes is None:
        print(f"{args.annotations}: no annotations for {image_key(args.image)}", file=sys.stderr)
    gt = boxes.filter(source="ground_truth") if boxes is not None else None
    user = boxes.filter(source="user") if boxes is not None else None
    params = parse_params(args.param)
    result = engine.explain(model, image, args.method, classes=named, layers=args.layer,
                            normalisation=args.normalisation, **params)
    try:
        classes = named if named is not None else args.classes
        from engine.report import resolve_classes

        chosen = resolve_classes(result, classes)
    except ReportError as exc:
        raise type(exc)(exc.problem, fix=exc.fix, path=args.image) from None
    merged = gt.merged(user) if gt is not None and user is not None else gt or user
    locs = localise(result, args.threshold, merged, box_mode=args.box_mode, min_area=args.min_area,
                    classes=list(chosen))
    inp = build_report_input(
        image, model, result, chosen, threshold=args.threshold, ground_truth=_non_empty(gt),
        user_boxes=_non_empty(user), localisation=locs, perturbation=perturbation,
        perturbation_source=str(args.perturbation or ""), deidentify=args.deidentify,
        command=_command(args, chosen), colormap=args.colormap,
    )
    path = write_report(inp, args.out)
    from engine.report.tables import fmt_prob

    top = ", ".join(f"{c} {fmt_prob(result.probability(c))}" for c in chosen)
    print(f"{args.image}: {top}")
    print(f"wrote {path}")
    if args.dicom_out:
        from engine.dicom_out import write_results

        files = write_results(args.dicom_out, image, result, classes=list(chosen), localisation=locs,
                              user_boxes=user, annotations=merged, pdf=path, deidentify=args.deidentify,
                              colormap=args.colormap)
        print(f"wrote {len(files)} DICOM files into {args.dicom_out}")
    return 0


def _check_classes(named: list[str], model: Any, given: str) -> None:
    from engine.report.errors import NothingExplainedError, ReportInputError

    class_names = model.class_names
    if not named:
        raise NothingExplainedError(f"--classes {given!r} names no class, so there is nothing to explain.",
                                    fix="give class names separated by commas, 'all' or 'predicted'.")
    lookup = {c.lower() for c in class_names}
    unknown = [c for c in named if c.lower() not in lookup]
    if unknown:
        raise ReportInputError(
            f"unknown class(es) {', '.join(repr(c) for c in unknown)}; the model's classes are: "
            f"{', '.join(class_names)}.", fix="use those names in --classes (comma-separated).", path=model.path)


def _read_perturbation(path: Path) -> dict[str, Any]:
    from engine.report.errors import ReportInputError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportInputError(f"cannot read the perturbation file ({exc.strerror or exc}).", path=path,
                               fix="pass the perturb.json written by radlens perturb.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"the perturbation file is not valid JSON ({exc}).", path=path,
                               fix="pass the perturb.json written by radlens perturb.") from exc


def _non_empty(s: Any) -> Any:
    return s if s is not None and len(s.boxes) else None


def _command(args: argparse.Namespace, classes: tuple[str, ...]) -> str:
    """The command line that reproduces this report (with the classes resolved)."""
    parts = ["radlens", "report", str(args.image), "--model", str(args.model), "--method", args.method,
             "--classes", ",".join(classes), "--threshold", args.threshold, "--normalisation", args.normalisation]
    for layer in args.layer or []:
        parts += ["--layer", layer]
    for p in args.param or []:
        parts += ["--param", p]
    if args.box_mode != "all":
        parts += ["--box-mode", args.box_mode]
    if args.min_area:
        parts += ["--min-area", str(args.min_area)]
    for flag, value in (("--annotations", args.annotations), ("--perturbation", args.perturbation)):
        if value:
            parts += [flag, str(value)]
    if args.deidentify:
        parts.append("--deidentify")
    return shlex.join(parts)
