"""``radlens explain``: explain a model's decision on images, headless.

Writes ``results.json`` (schema-versioned: every explanation with its provenance, the boxes cut
at the threshold and their scores) and one overlay PNG per image and class into ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.cli.common import add_map_arguments, add_model_argument, parse_params, slug

RUN_SCHEMA_VERSION = 1
PNG_METADATA = {"Software": "RadLens", "Description": "research use only"}
#: Threads that draw and PNG-encode the overlays while the main thread cuts the next class's boxes
#: (0: drawn and written in the main thread, one after another; the files are the same bytes). Since
#: ISA-L encodes a 3000 x 3000 overlay in ~0.03 s, one thread keeps up: a second one gave the same
#: wall time at 3000 x 3000 and ~80 MB more peak memory (two full-size canvases at once).
OVERLAY_WORKERS = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", type=Path, help="image files (DICOM, PNG, JPEG, TIFF, NIfTI, ...)")
    add_model_argument(parser)
    parser.add_argument("--method", default=None, help="explanation method (see --list-methods); default: "
                        "the bundle's recommended method (model.json 'method'), else gradcam")
    parser.add_argument("--classes", default="all", help="'all' or comma-separated class names")
    add_map_arguments(parser)
    parser.add_argument("--alignment", default="receptive_field", choices=("receptive_field", "resize"),
                        help="CAM grid cells at their receptive-field centres (default) or at tile centres "
                        "(plain resizing, as pytorch-grad-cam and torchcam do)")
    parser.add_argument("--colormap", default="jet", help="matplotlib colour map for overlays")
    parser.add_argument("--frame", type=int, default=0, help="frame of multi-frame images")
    parser.add_argument("--out", type=Path, default=Path("radlens-out"), help="output folder")
    parser.add_argument("--list-methods", action="store_true", help="list the methods and their parameters")
    parser.add_argument("--dicom-out", type=Path, help="also write each DICOM image's results as DICOM into this "
                        "folder: TID 1500 SR, parametric map, secondary captures (docs/dicom-export.md)")
    parser.add_argument("--deidentify", action="store_true",
                        help="with --dicom-out: de-identify the DICOM objects as radlens report --deidentify does")
    parser.set_defaults(_exit_at_once=True)  # files written and closed when run returns: no teardown (viewer.cli)


def run(args: argparse.Namespace) -> int:
    first = _read_ahead(args)  # the first image is read while torch is imported and the model built
    with collector_paused():  # torch's import
        from engine.explainers.api import list_methods

    if args.list_methods:
        for m in list_methods():
            print(f"{m.name:<22} {m.label:<24} [{m.family}] {m.summary}")
            for p in m.params:
                choices = f" {p['choices']}" if p["choices"] else ""
                print(f"{'':<24}{p['name']}={p['default']!r}{choices}: {p['help']}")
        return 0
    if not args.images:
        print("radlens explain: give at least one image (or --list-methods)", file=sys.stderr)
        return 2
    return _explain_images(args, first)


def _read_ahead(args: argparse.Namespace) -> Future[Any] | None:
    """The first image's ``load_image`` started in a thread (its errors are raised where it is used)."""
    if args.list_methods or not args.images:
        return None
    from engine.io import load_image  # no torch: NumPy and the image's reader

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="radlens-read")
    future = pool.submit(load_image, args.images[0], frame=args.frame)
    pool.shutdown(wait=False)
    return future


def _explain_images(args: argparse.Namespace, first: Future[Any] | None = None) -> int:
    with collector_paused():  # imports and the model's build
        import engine
        from engine.analysis import localise
        from engine.annotations import image_key, read_annotations
        from engine.atomic import atomic_write_text
        from engine.errors import RadLensError
        from engine.io import load_image
        from engine.render import display_bytes

        _map_large_buffers()
        model = engine.load_model(args.model, device=args.device)
    args.method = args.method or model.manifest.method or "gradcam"  # the bundle's recommendation
    params = parse_params(args.param)
    classes = None if args.classes == "all" else [c.strip() for c in args.classes.split(",") if c.strip()]
    gt_all: dict[str, Any] = {}
    if args.annotations:
        gt_all = {image_key(k): v for k, v in read_annotations(args.annotations).items()}
    args.out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    failures = 0
    overlays_out = _OverlayWriter(OVERLAY_WORKERS)
    for path in args.images:
        try:
            with collector_paused():  # the first image imports its reader (pydicom)
                if first is not None and path == args.images[0]:
                    image, first = first.result(), None
                else:
                    image = load_image(path, frame=args.frame)
                annotations = _annotations_for(path, image, gt_all)
                result = engine.explain(model, image, args.method, classes=classes, layers=args.layer,
                                        normalisation=args.normalisation, alignment=args.alignment,
                                        **params)
            for note in result.notes:
                if note.startswith("WARNING"):
                    print(f"radlens explain: {path}: {note}", file=sys.stderr)
            if result.is_regression:
                entries.append(_regression_entry(path, image, result, annotations, args))
                continue
            loc, regions, overlays = {}, {}, {}
            grey = display_bytes(image)  # once per image, not per class
            with _one_torch_thread():  # the overlay threads hold the cores
                for name in result.explained:  # one class at a time: its full-size arrays go before the next
                    loc.update(localise(result, args.threshold, annotations, box_mode=args.box_mode,
                                        min_area=args.min_area, classes=[name]))
                    regions.update(region_descriptions(image, result, {name: loc[name]}, annotations))
                    out_png = args.out / f"{Path(path).name}.{slug(name)}.png"
                    overlays_out.submit(grey, result, name, loc[name], annotations, args.colormap, out_png,
                                        release=not args.dicom_out)  # the DICOM objects need every map
                    overlays[name] = out_png.name
            if args.dicom_out:
                overlays_out.wait()  # the maps the overlays were drawn from stay; nothing else is shared
            dicom_files = _dicom_out(args, image, result, loc, annotations)
            entries.append({
                "image": str(path), "image_id": image_key(path),
                "explanation": result.to_dict(),
                "localisation": {k: v.to_dict() for k, v in loc.items()},
                "regions": regions,
                "overlays": overlays,
                **({"dicom": [str(p) for p in dicom_files]} if args.dicom_out else {}),
            })
            top = sorted(zip(result.probabilities, result.class_names, strict=True), reverse=True)[:3]
            print(f"{path}: " + ", ".join(f"{n} {p:.3f}" for p, n in top) + f"  ({result.elapsed_s * 1000:.0f} ms)")
        except RadLensError as exc:
            failures += 1
            print(f"radlens explain: {exc}", file=sys.stderr)
            entries.append({"image": str(path), "error": str(exc)})
    overlays_out.close()  # an overlay that could not be written is an error, not a missing file
    match = None
    if args.annotations:
        from engine.annotations import match_to_images

        report = match_to_images(gt_all, [e["image_id"] for e in entries if "image_id" in e])
        match = {"unmatched_annotation_ids": list(report.unmatched_annotations),
                 "images_without_annotations": list(report.images_without_annotations)}
        if report.unmatched_annotations:
            print(f"{args.annotations}: {len(report.unmatched_annotations)} annotated image ids match none of the "
                  "images given (listed in results.json)", file=sys.stderr)
        if report.images_without_annotations:
            print(f"no annotations for: {', '.join(report.images_without_annotations)}", file=sys.stderr)
    doc = {
        "schema_version": RUN_SCHEMA_VERSION, "kind": "radlens.explain-run", "annotation_match": match,
        "model": model.identity(), "method": args.method, "threshold": args.threshold,
        "normalisation": args.normalisation, "alignment": args.alignment, "params": params, "images": entries,
    }
    atomic_write_text(args.out / "results.json", json.dumps(doc, indent=1))
    print(f"wrote {args.out / 'results.json'}")
    return 1 if failures else 0


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a block that imports modules or builds a network.

    An import of torch, torchvision and pydicom creates hundreds of thousands of objects, and the
    collector walks all of them again and again while they pile up: about a quarter of their import
    time (measured: 2.4 s -> 1.8 s CPU on the loaded 2-core machine, issue #19). Nothing is lost:
    cyclic garbage made meanwhile is collected after the block, when the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """torch's intra-op threads and NumPy's BLAS threads set to one for the block, then as they were.

    While the overlay thread draws and encodes, both cores are busy: a class map's upsampling (a
    matrix product, :func:`engine.sampling.sample_grid`) with two threads then waits at each
    parallel region for a thread that has no core, many times longer than one thread takes. The
    products are the same with one thread (a test compares the written files).
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def _map_large_buffers() -> None:
    """With glibc, give every allocation of 16 MiB or more its own memory mapping, returned to the
    system when freed (``mallopt(M_MMAP_THRESHOLD)``; elsewhere nothing happens).

    glibc raises that threshold each time a mapped block is freed (up to 32 MiB), so the full-size
    maps and canvases of later classes come from the threads' heaps, which keep their pages: with
    overlays drawn in two threads the peak (maximum resident set) at 3000 x 3000 was 997-1004 MB,
    with the fixed threshold 960-974 MB (issue #19). A 1 MiB threshold saved 10 MB more but cost
    0.5 s of page faults (every block of the blend and the PNG filter mapped afresh). This process
    is the command's own, so the setting stays in it.
    """
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-3, 16 << 20)  # M_MMAP_THRESHOLD is -3 in glibc's malloc.h
    except (OSError, AttributeError, TypeError):
        pass


class _OverlayWriter:
    """Draws and writes class overlays (:func:`engine.render.class_overlay`, then
    :func:`engine.render.save_png` at level 1) in ``workers`` threads, at most ``workers`` at a
    time (each holds a full-size canvas), while the caller goes on with the next class (issue #19:
    the drawing is NumPy and Pillow, the encoding ISA-L, and most of both runs without the GIL).
    ``workers=0`` does each job in the calling thread at once. A failed job raises from the next
    :meth:`submit`, :meth:`wait` or :meth:`close`."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="radlens-overlay") if workers else None
        self._limit = max(1, workers)
        self._jobs: deque[Future[Path]] = deque()

    def submit(self, grey: Any, result: Any, name: str, loc: Any, annotations: Any, cmap: str, path: Path, *,
               release: bool) -> None:
        if self._pool is None:
            _write_overlay(grey, result, name, loc, annotations, cmap, path, release)
            return
        while len(self._jobs) >= self._limit:
            self._jobs.popleft().result()
        self._jobs.append(self._pool.submit(_write_overlay, grey, result, name, loc, annotations, cmap, path, release))

    def wait(self) -> None:
        while self._jobs:
            self._jobs.popleft().result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def _write_overlay(grey: Any, result: Any, name: str, loc: Any, annotations: Any, cmap: str, path: Path,
                   release: bool) -> Path:
    """One class's overlay drawn and written; with ``release`` its full-size map goes once drawn."""
    from engine.render import class_overlay, save_png

    rgb = class_overlay(grey, result, name, loc, annotations, cmap=cmap)
    if release:
        result.release(name)
    return save_png(rgb, path, PNG_METADATA, compress_level=1)


def _dicom_out(args: argparse.Namespace, image: Any, result: Any, loc: Any, annotations: Any) -> list[Path]:
    """``--dicom-out``: the image's SR, parametric map and secondary captures (nothing without the flag)."""
    if not getattr(args, "dicom_out", None):
        return []
    from engine.dicom_out import write_results

    return write_results(args.dicom_out, image, result, localisation=loc, user_boxes=annotations,
                         annotations=annotations, deidentify=args.deidentify, colormap=args.colormap)


def _regression_entry(path: Path, image: Any, result: Any, annotations: Any,
                      args: argparse.Namespace) -> dict[str, Any]:
    """A regression model's entry: per output its value and unit, and per direction ("raises",
    "lowers") the boxes/IoU cut from that direction's map and its overlay PNG
    (``<image>.<output>.raises.png``)."""
    from engine.analysis import localise
    from engine.annotations import image_key
    from engine.render import class_overlay, display_bytes, save_png

    outputs: dict[str, Any] = {}
    for name in result.explained:
        per: dict[str, Any] = {"value": result.value(name), "unit": result.unit(name)}
        for direction in result.directions:
            directed = result.directed(direction)
            loc = localise(directed, args.threshold, annotations, box_mode=args.box_mode, min_area=args.min_area)
            out_png = args.out / f"{Path(path).name}.{slug(name)}.{direction}.png"
            save_png(class_overlay(display_bytes(image), directed, name, loc[name], annotations, cmap=args.colormap),
                     out_png, PNG_METADATA, compress_level=1)
            per[direction] = {"localisation": loc[name].to_dict(), "overlay": out_png.name}
        outputs[name] = per
    print(f"{path}: " + ", ".join(f"{n} {v['value']:.4g}{' ' + v['unit'] if v['unit'] else ''}"
                                  for n, v in outputs.items()) + f"  ({result.elapsed_s * 1000:.0f} ms)")
    return {"image": str(path), "image_id": image_key(path), "task": "regression",
            "explanation": result.to_dict(), "regression": outputs,
            "direction_convention": "raises = the map of +y, lowers = the map of -y (docs/regression.md)"}


def _annotations_for(path: Path, image: Any, gt_all: dict[str, Any]) -> Any:
    """Annotations of an image: from --annotations by image id (file stem or SOP UID), plus its sidecar."""
    from engine.annotations import find_sidecar, image_key, read_sidecar

    found = []
    keys = [image_key(path)]
    uid = getattr(getattr(image, "metadata", None), "sop_instance_uid", "")
    if uid:
        keys.append(uid)
    for k in keys:
        if k in gt_all:
            found.append(gt_all[k])
            break
    sidecar = find_sidecar(path)
    if sidecar is not None:
        found.append(read_sidecar(path).annotations)
    if not found:
        return None
    merged = found[0]
    for extra in found[1:]:
        merged = merged.merged(extra)
    return merged


def region_descriptions(
    image: Any, result: Any, loc: dict[str, Any], annotations: Any
) -> dict[str, list[dict[str, Any]]]:
    """Each box in words (side, zone, size, shape, IoU; :mod:`engine.localise.describe`), by class."""
    from engine.analysis import boxes_by_annotator, map_index
    from engine.localise.describe import describe_regions, frame_of

    frame = frame_of(image)
    return {name: [d.to_dict() for d in describe_regions(
        c.boxes, map_index(result, name).mask(c.threshold), frame, class_name=name,
        ground_truth=boxes_by_annotator(annotations, name, "ground_truth"))] for name, c in loc.items()}
