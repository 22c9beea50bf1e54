"""Viewer responsiveness on a 3000 x 3000 16-bit DICOM: window/level drags, pan and zoom, offscreen.

Each update is one simulated mouse-drag step followed by a full render of the canvas
(``QWidget.grab``: pyqtgraph re-makes the image's QImage when its levels changed, then paints the
scene), so updates/second is the rate the screen can follow a drag. The rate limiter of the real
app (one window update per 15 ms frame, latest value wins) only lowers the work further.

Cases:
  * W/L drag, LINEAR window: integer data + linear levels (the fast path); during the drag a
    zoomed-out image is windowed at screen resolution (every k-th pixel), as in the app
  * the same with every step at full resolution (what the app draws once, on release)
  * W/L drag, SIGMOID window: integer data + a full 65,536-entry table from the engine's window
  * W/L drag, naive: recompute the float display with StudyImage.windowed and upload it (reference)
  * pan and zoom (wheel steps)

Usage: QT_QPA_PLATFORM=offscreen python scripts/bench_viewer.py [--write] [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from benchdoc import machine, write_section

from engine.io import Window, load_image
from engine.io.synthetic import write_dicom

TARGET = 30.0


def rate(step: Callable[[int], None], render: Callable[[], object], steps: int) -> list[float]:
    """Updates per second over ``steps`` updates, in 3 rounds (after one warm-up update)."""
    step(0)
    render()
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            step(i)
            render()
        rounds.append(steps / (time.perf_counter() - t0))
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--size", default="1400x1000", help="canvas size in screen pixels")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from viewer.app import application
    from viewer.canvas import Canvas

    app = application()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.dcm"
        yy, xx = np.mgrid[0:3000, 0:3000]
        pixels = (2000 + 1500 * np.sin(xx / 300.0) * np.cos(yy / 400.0) + rng.normal(0, 60, (3000, 3000)))
        write_dicom(path, np.clip(pixels, 0, 4095).astype(np.uint16), bits_stored=12, RescaleSlope=1,
                    RescaleIntercept=-1024, WindowCenter=900, WindowWidth=2500)
        image = load_image(path)
    canvas = Canvas()
    canvas.resize(width, height)
    canvas.show()
    t0 = time.perf_counter()
    canvas.show_image(image)
    show_s = time.perf_counter() - t0
    app.processEvents()

    def render() -> object:
        return canvas.grab()

    on_window_drag = canvas.view.on_window_drag  # set by the Canvas
    assert on_window_drag is not None

    def drag(i: int) -> None:  # a zig-zag drag, 4 screen pixels per event
        on_window_drag(4.0 if (i // 20) % 2 == 0 else -4.0, 2.0 if (i // 10) % 2 == 0 else -2.0, False)
        canvas._flush_window_drag()

    def full(i: int) -> None:  # every step rendered at full resolution, as on button release
        on_window_drag(4.0 if (i // 20) % 2 == 0 else -4.0, 2.0 if (i // 10) % 2 == 0 else -2.0, True)

    rows = []
    rows.append(("W/L drag, LINEAR window (integer levels, screen-resolution preview)", rate(drag, render, args.steps)))
    rows.append(("W/L, LINEAR, every step at full resolution (as on release)", rate(full, render, args.steps)))
    canvas.set_window(Window(900.0, 2500.0, "SIGMOID", "sigmoid", "user"))
    rows.append(("W/L drag, SIGMOID window (65,536-entry engine table, preview)", rate(drag, render, args.steps)))
    rows.append(("W/L, SIGMOID, every step at full resolution", rate(full, render, args.steps)))

    naive_window = [900.0, 2500.0]

    def naive(i: int) -> None:
        naive_window[1] += 10.0 if i % 2 else -10.0
        display = image.windowed(naive_window[0], naive_window[1])
        canvas.image_item.setImage(display, levels=(0.0, 1.0), lut=None, autoLevels=False)

    canvas.set_window(image.window)
    rows.append(("W/L drag, naive float re-window + upload (reference)", rate(naive, render, max(10, args.steps // 4))))
    canvas.render_image()
    canvas.fit()
    canvas.zoom(3.0)

    def pan(i: int) -> None:
        canvas.view.translateBy(x=8.0 if (i // 20) % 2 == 0 else -8.0, y=5.0)

    rows.append(("pan (zoomed 3x)", rate(pan, render, args.steps)))

    def zoom(i: int) -> None:
        canvas.zoom(1.1 if (i // 10) % 2 == 0 else 1 / 1.1)

    rows.append(("zoom (wheel steps of 10 %)", rate(zoom, render, args.steps)))
    canvas.close()

    lines = [
        "## Viewer: window/level, pan and zoom on a 3000 x 3000 16-bit DICOM (scripts/bench_viewer.py)",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} while measuring (shared cores); "
        f"Qt offscreen, canvas {width} x {height} px; first display "
        f"(quantise + upload + fit) {show_s * 1000:.0f} ms.",
        "One update = one simulated mouse-drag step and a full render of the canvas (`QWidget.grab`). "
        f"Target: at least {TARGET:g} updates/s.",
        "",
        "| case | median updates/s | min | target | |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        reference = "reference" in name
        reference = reference or "full resolution" in name
        verdict = "" if reference else ("PASS" if statistics.median(r) >= TARGET else "FAIL")
        lines.append(f"| {name} | {statistics.median(r):.1f} | {min(r):.1f} | {'' if reference else TARGET:} "
                     f"| {verdict} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        print(f"wrote {write_section('bench_viewer', text)}")


if __name__ == "__main__":
    main()
