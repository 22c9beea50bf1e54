"""Live at clinical resolution (issue #19): every interactive path at 512 x 512, 3000 x 3000 and 4300 x 3500.

The large images are 16-bit DICOMs made from demo image phantom_00000 (bilinear upsampling, pixel
spacing scaled), with its ground-truth boxes scaled alike. Measured, in one run, with the bundled
default model on the CPU:

* threshold move -> boxes -> IoU table: ``plugins.explain_overlay.scores.localise_class`` (what the
  panel runs for a slider move), median over a sweep of top-fraction, fraction-of-max and Otsu
  thresholds, after the first move of the class (which builds the class's index once); the same on
  a focal, mostly-zero map (the case where ``np.partition`` degraded); and the full-resolution
  functions it replaces (``map_to_boxes``), whose boxes it must equal (checked here on every case);
* overlay recolour (colour map, opacity, heatmap <-> outline) and class switch, on the real canvas
  offscreen: the palette/layer change plus a full repaint of the view (``QWidget.grab``), next to
  the former path (RGBA layer recomputed and uploaded);
* perturbation slider -> bars: the real panel at full resolution (``scripts/bench_perturb.py``'s
  host), one move at a time;
* ``radlens explain`` on one image, all classes, overlays written: wall time and peak memory of the
  process (a subprocess, measured by the OS);
* app start with the demo study: to the first image shown, and to the first explanation shown (a
  subprocess opening the viewer offscreen and reporting when each appears).

Usage: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_live.py [--write] [--sizes 512,3000,4300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402  (after the sys.path lines, like the other scripts)

DEMO = ROOT / "resources" / "demo"
SOURCE = DEMO / "images" / "phantom_00000.dcm"
SIZES = {"512": None, "3000": (3000, 3000), "4300": (3500, 4300)}
THRESHOLDS = ["top:0.01", "top:0.02", "top:0.05", "top:0.1", "top:0.2", "max:0.3", "max:0.5", "max:0.7", "otsu"]
TARGETS_MS = {"threshold": 50.0, "recolour": 30.0, "class": 100.0, "perturb": 100.0}


def make_image(size: tuple[int, int] | None, folder: Path) -> Path:
    """The demo image itself (None) or a 16-bit DICOM of ``size`` (rows, columns) made from it."""
    if size is None:
        return SOURCE
    import pydicom
    from PIL import Image

    ds = pydicom.dcmread(SOURCE)
    rows, cols = size
    pixels = np.asarray(Image.fromarray(ds.pixel_array.astype(np.float32), mode="F").resize(
        (cols, rows), Image.Resampling.BILINEAR))
    pixels = (pixels - pixels.min()) / max(float(np.ptp(pixels)), 1e-6) * 4095
    out = ds.copy()
    out.Rows, out.Columns = rows, cols
    out.BitsAllocated, out.BitsStored, out.HighBit, out.PixelRepresentation = 16, 12, 11, 0
    if "PixelSpacing" in out:
        out.PixelSpacing = [float(v) * ds.Rows / rows for v in ds.PixelSpacing]
    out.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    out.PixelData = pixels.astype(np.uint16).tobytes()
    path = folder / f"live_{rows}x{cols}.dcm"
    out.save_as(path, enforce_file_format=True)
    return path


def scaled_truth(image_shape: tuple[int, int]) -> Any:
    """The demo image's ground truth, scaled to ``image_shape``."""
    import dataclasses

    from engine.annotations import image_key, read_annotations

    truth = read_annotations(DEMO / "train.csv")[image_key(SOURCE)]
    sy, sx = image_shape[0] / 512, image_shape[1] / 512
    boxes = tuple(dataclasses.replace(b, x0=b.x0 * sx, x1=b.x1 * sx, y0=b.y0 * sy, y1=b.y1 * sy) for b in truth.boxes)
    return dataclasses.replace(truth, boxes=boxes)


def ms(samples: list[float]) -> tuple[float, float]:
    """(median, p90) in milliseconds of samples in seconds."""
    s = sorted(samples)
    return statistics.median(s) * 1000, s[int(0.9 * (len(s) - 1))] * 1000


def bench_threshold(result: Any, truth: Any) -> dict[str, Any]:
    """Threshold sweeps through the panel's localisation, and the full-resolution reference."""
    from engine.localise import map_to_boxes
    from plugins.explain_overlay import scores

    out: dict[str, Any] = {}
    names = list(result.explained)
    first, sweep, full = [], [], []
    for name in names:
        t = time.perf_counter()
        scores.localise_class(result, name, "top:0.05", truth, None)
        first.append(time.perf_counter() - t)
        heat = result.map(name, "image")
        for spec in THRESHOLDS:
            t = time.perf_counter()
            loc = scores.localise_class(result, name, spec, truth, None)
            sweep.append(time.perf_counter() - t)
            t = time.perf_counter()
            want = map_to_boxes(heat, spec)
            full.append(time.perf_counter() - t)
            assert np.array_equal(loc.boxes, want), (name, spec)
    out["first"] = ms(first)
    out["sweep"] = ms(sweep)
    out["full"] = ms(full)
    # A focal map: one small finding, most of the map exact zeros after Grad-CAM's ReLU.
    h, w = result.map(names[0], "image").shape
    yy, xx = np.mgrid[:h, :w]
    focal = np.maximum(np.exp(-((yy - h * 0.3) ** 2 + (xx - w * 0.6) ** 2) / (2 * (0.05 * h) ** 2)) - 0.2, 0)
    focal = focal.astype(np.float32)
    from engine.localise.levels import MapIndex

    index = MapIndex(focal)
    zero_sweep, zero_full = [], []
    for spec in THRESHOLDS:
        t = time.perf_counter()
        got = index.boxes(spec)
        zero_sweep.append(time.perf_counter() - t)
        t = time.perf_counter()
        want = map_to_boxes(focal, spec)
        zero_full.append(time.perf_counter() - t)
        assert np.array_equal(got, want), spec
    out["zero_share"] = float((focal == 0).mean())
    out["zero_sweep"] = ms(zero_sweep)
    out["zero_full"] = ms(zero_full)
    return out


def bench_overlay(image: Any, result: Any) -> dict[str, Any]:
    """Recolour and class switch on the real canvas, with a full repaint each time."""
    from PySide6.QtWidgets import QApplication

    from plugins.explain_overlay.presenter import HEATMAP_LAYER, draw_indexed, indexed
    from plugins.explain_overlay.rendering import display_map, overlay_rgba
    from viewer.canvas import Canvas

    app = QApplication.instance() or QApplication([])
    canvas = Canvas()
    canvas.resize(1200, 900)
    canvas.show()
    canvas.show_image(image)
    app.processEvents()
    names = list(result.explained)
    for name in names:  # what the panel's prefetch computes after the first class is drawn
        indexed(result, name, "both")
    looks = [("heatmap", "jet", 0.45), ("heatmap", "inferno", 0.45), ("heatmap", "inferno", 0.7),
             ("outline", "inferno", 0.7), ("both", "viridis", 0.5), ("heatmap", "jet", 0.45)]

    def paint() -> None:
        canvas.grab()

    recolour, switch, old = [], [], []
    for _ in range(3):
        for mode, cmap, opacity in looks:
            t = time.perf_counter()
            draw_indexed(canvas, indexed(result, names[0], mode), mode, cmap, opacity)
            paint()
            recolour.append(time.perf_counter() - t)
        for name in names:
            t = time.perf_counter()
            draw_indexed(canvas, indexed(result, name, "heatmap"), "heatmap", "jet", 0.45)
            paint()
            switch.append(time.perf_counter() - t)
    canvas.set_indexed_overlay(HEATMAP_LAYER, None, np.zeros((256, 4), np.uint8))
    for mode, cmap, opacity in looks[:3]:  # the former path: a new RGBA layer each time
        t = time.perf_counter()
        rgba = overlay_rgba(display_map(result, names[0])[0], mode, cmap, opacity)  # type: ignore[arg-type]
        canvas.set_image_overlay("old", rgba)
        paint()
        old.append(time.perf_counter() - t)
    canvas.set_image_overlay("old", None)
    canvas.close()
    return {"recolour": ms(recolour), "switch": ms(switch), "old": ms(old)}


def bench_perturb(image: Any, result: Any, path: Path) -> dict[str, Any]:
    """The perturbation panel at full resolution: slider move -> bars, one move at a time."""
    from bench_perturb import _Host, _wait
    from PySide6.QtWidgets import QApplication

    from engine.annotations import AnnotationSet
    from plugins.perturb_lab.panel import create_panel

    app = QApplication.instance() or QApplication([])
    host = _Host()
    host.state.update(model=result_model[0])
    host.state.open_image(image, path, AnnotationSet(), AnnotationSet())
    panel = create_panel(host)
    panel.view.setCurrentText("Perturbed")
    cls = result.predicted()[0] if result.predicted() else result.class_names[0]
    host.state.update(explanation=result, selected_class=cls)
    _wait(app, lambda: panel.applied >= 1, 120)
    panel.latencies_ms.clear()
    for i in range(15):
        before = panel.applied
        panel.slider.setValue(1 + (i * 7) % 60)
        _wait(app, lambda b=before: panel.applied > b, 60)
    lat = list(panel.latencies_ms)
    panel.runner.shutdown(5000)
    return {"perturb": (statistics.median(lat), sorted(lat)[int(0.9 * (len(lat) - 1))])}


result_model: list[Any] = []


#: ``radlens explain`` processes per image size (the table gives their median, min and max).
CLI_RUNS = 5


def bench_explain_cli(path: Path) -> dict[str, float]:
    """``radlens explain`` in a subprocess: wall seconds and peak resident memory (MB).

    The peak is sampled with psutil every 10 ms: the child's own ``ru_maxrss`` would include this
    (large) process's memory, which Linux carries across the fork and exec.
    """
    from importlib import import_module

    import_module("ray")  # puts Ray's vendored psutil on sys.path (psutil is not a RadLens dependency)
    psutil = import_module("psutil")

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "viewer.cli", "explain", str(path), "--out", out]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watched, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.01)
        _, err = proc.communicate()
        wall = time.perf_counter() - t
        if proc.returncode:
            raise RuntimeError(f"radlens explain failed: {err.decode()[-2000:]}")
        n = len(list(Path(out).glob("*.png")))
    return {"wall_s": wall, "peak_mb": peak / 2**20, "overlays": n}


def baseline_mb() -> float:
    """Memory of a process that only imports the engine and loads the default model: the part of
    ``radlens explain``'s memory that does not depend on the image (torch alone holds ~650 MB with
    a CUDA build)."""
    code = ("import engine, ray, psutil; engine.load_model('default'); "
            "print(psutil.Process().memory_info().rss)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(run.stdout.strip().splitlines()[-1]) / 2**20


def startup_child() -> None:
    """Open the viewer on the demo study; print when the first image and explanation show."""
    t0 = float(os.environ["RADLENS_BENCH_T0"])
    from PySide6 import QtWidgets

    from viewer.app import application, create_window
    from viewer.screenshot import wait_until
    from viewer.settings import Settings

    application()
    window = create_window(str(DEMO / "images"), settings=Settings(persist=False))
    window.resize(1400, 900)
    window.show()
    QtWidgets.QApplication.processEvents()
    wait_until(lambda: window.state.image is not None, 60)
    window.grab()
    first_image = time.time() - t0
    wait_until(lambda: not window.model_loading, 120)
    window.host.run_command("explanation.run")
    wait_until(lambda: window.state.explanation is not None, 120)
    wait_until(lambda: False, 0.05)
    window.grab()
    first_explanation = time.time() - t0
    print(json.dumps({"first_image_s": first_image, "first_explanation_s": first_explanation}))
    sys.stdout.flush()
    os._exit(0)


def bench_startup(repeats: int = 3) -> dict[str, tuple[float, float]]:
    """Medians over ``repeats`` fresh processes (temporary HOME, so no settings of the user)."""
    rows = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "HOME": home, "RADLENS_SETTINGS": str(Path(home) / "settings.json"),
                   "RADLENS_BENCH_T0": repr(time.time())}
            run = subprocess.run([sys.executable, __file__, "--startup-child"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=300)
            line = [x for x in run.stdout.splitlines() if x.startswith("{")]
            if not line:
                raise RuntimeError(f"the start-up child failed: {run.stderr[-2000:]}")
            rows.append(json.loads(line[-1]))
    return {k: (statistics.median(r[k] for r in rows), min(r[k] for r in rows)) for k in rows[0]}


def cli_table(cli_runs: list[tuple[str, int, list[dict[str, float]]]], base_mb: float) -> list[str]:
    """Rows of the ``radlens explain`` table: the first size (3000 x 3000) against 3 s and 1,000 MB,
    each larger one by its memory above ``base_mb`` against the first's, scaled by pixel count."""
    rows, first = [], None
    for label, pixels, runs in cli_runs:
        walls = sorted(r["wall_s"] for r in runs)
        peaks = sorted(r["peak_mb"] for r in runs)
        wall, peak = float(np.median(walls)), float(np.median(peaks))
        if first is None:
            first = (pixels, peak - base_mb)
            check = (f"time {verdict(wall, 3.0)} (≤ 3 s), memory {verdict(peak, 1000.0)} (≤ 1,000 MB)")
        else:
            growth, allowed = (peak - base_mb) / first[1], pixels / first[0]
            check = (f"memory over the model's ×{growth:.2f} for ×{allowed:.2f} the pixels: "
                     f"{verdict(growth, allowed)}")
        rows.append(f"| {label} | {wall:.2f} ({walls[0]:.2f}-{walls[-1]:.2f}) | {peak:.0f} ({peaks[0]:.0f}-"
                    f"{peaks[-1]:.0f}) | {runs[0]['overlays']} | {check} |")
    return rows


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    parser.add_argument("--sizes", default="512,3000,4300")
    parser.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: perturb,cli,startup")
    args = parser.parse_args()
    if args.startup_child:
        startup_child()
    skip = set(filter(None, args.skip.split(",")))
    load0 = os.getloadavg()[0]
    from benchdoc import machine, write_section

    import engine
    from engine.io import load_image

    model = engine.load_model("default")
    result_model.append(model)
    table: list[str] = []
    cli_runs: list[tuple[str, int, list[dict[str, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.sizes.split(","):
            path = make_image(SIZES[key], Path(tmp))
            image = load_image(path)
            shape = image.display.shape[:2]
            label = f"{shape[1]} x {shape[0]}"
            truth = scaled_truth(shape)
            result = engine.explain(model, image, "gradcam")
            th = bench_threshold(result, truth)
            ov = bench_overlay(image, result)
            pt = bench_perturb(image, result, path) if "perturb" not in skip else {}
            print(label, th, ov, pt, flush=True)
            rows = [
                ("threshold move → boxes → IoU table (Grad-CAM maps, 5 classes × 9 thresholds)", th["sweep"],
                 TARGETS_MS["threshold"], f"full-resolution `map_to_boxes` alone: {th['full'][0]:.0f} ms; first "
                 f"move of a class (builds its index): {th['first'][0]:.0f} ms"),
                (f"the same on a focal map ({th['zero_share']:.0%} exact zeros)", th["zero_sweep"],
                 TARGETS_MS["threshold"], f"full-resolution: {th['zero_full'][0]:.0f} ms"),
                ("overlay recolour (colour map, opacity, heatmap ↔ outline ↔ both) + repaint", ov["recolour"],
                 TARGETS_MS["recolour"], f"former path (RGBA recomputed and uploaded): {ov['old'][0]:.0f} ms"),
                ("switch class (map shown + repaint)", ov["switch"], TARGETS_MS["class"], ""),
            ]
            if pt:
                rows.append(("perturbation slider → bars (panel, full-resolution map)", pt["perturb"],
                             TARGETS_MS["perturb"], ""))
            for what, (med, p90), target, note in rows:
                table.append(f"| {label} | {what} | {med:.1f} | {p90:.1f} | {target:.0f} | "
                             f"{verdict(med, target)} | {note} |")
            if "cli" not in skip and key != "512":
                runs = [bench_explain_cli(path) for _ in range(CLI_RUNS)]
                cli_runs.append((label, image.display.shape[0] * image.display.shape[1], runs))
                print(label, runs, flush=True)
    start = bench_startup() if "startup" not in skip else {}
    load1 = os.getloadavg()[0]
    lines = [
        "## Live at clinical resolution (scripts/bench_live.py, issue #19)", "",
        f"Machine: {machine()}; load average (1 min) {load0:.2f} at start, {load1:.2f} at end"
        + (" (above 2: other processes shared the cores)." if max(load0, load1) > 2 else "."), "",
        "Default model, Grad-CAM (all five classes) on demo image phantom_00000 and on 16-bit DICOMs upsampled "
        "from it, with its ground truth scaled alike. Every box of the fast path was checked equal to the "
        "full-resolution `map_to_boxes` in this run.", "",
        "| image | interaction | median ms | p90 ms | target ms | | note |", "|---|---|---|---|---|---|---|",
        *table, "",
    ]
    if cli_runs:
        base_mb = baseline_mb()
        lines += [f"`radlens explain IMAGE --out DIR` (all classes, overlays written), {CLI_RUNS} runs of one process "
                  "each, median (min-max); a process that only imports the engine and loads the model holds "
                  f"{base_mb:.0f} MB. Targets: at 3000 x 3000 at most 3 s and 1,000 MB; above that the memory "
                  "over the model's grows no faster than the pixel count.", "",
                  "| image | wall s | peak memory MB | overlays | |", "|---|---|---|---|---|",
                  *cli_table(cli_runs, base_mb), ""]
    if start:
        lines += [f"App start with the demo study (fresh process, temporary HOME, median / min of 3): first image "
                  f"shown {start['first_image_s'][0]:.2f} s / {start['first_image_s'][1]:.2f} s (target 3 s: "
                  f"{verdict(start['first_image_s'][0], 3.0)}); first explanation shown "
                  f"{start['first_explanation_s'][0]:.2f} s / {start['first_explanation_s'][1]:.2f} s (target 5 s: "
                  f"{verdict(start['first_explanation_s'][0], 5.0)}).", ""]
    body = "\n".join(lines).rstrip()
    print(body)
    if args.write:
        write_section("bench_live", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
