"""Benchmark heatmap -> boxes (engine.localise.map_to_boxes) on a 3000 x 3000 map.

Run: ``.venv/bin/python scripts/bench_localise.py [--write]``. The map is a Gaussian blob plus 1 %
uniform noise (the case the unit test ``test_large_map_gives_the_blob_box`` checks for
correctness). Target (moved here from that unit test, issue #14): under 1 s per call; typically
~0.05 s on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdoc import machine, write_section

from engine.localise import map_to_boxes

TARGET_S = 1.0
POLICIES = ("top:0.05", "top:0.2", "max:0.5", "otsu")


def blob_map(size: int = 3000) -> np.ndarray:
    """A Gaussian blob (sigma 150 px) at (row 1000, column 2000) plus 1 % uniform noise, float32."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    m = np.exp(-((yy + 0.5 - 1000.0) ** 2 + (xx + 0.5 - 2000.0) ** 2) / (2 * 150.0**2))
    return (m + 0.01 * rng.random((size, size))).astype(np.float32)


def timed(policy: str, heat: np.ndarray, repeats: int) -> list[float]:
    """Seconds per ``map_to_boxes(heat, policy)`` call, one entry per repeat."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        map_to_boxes(heat, policy)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    """Time every policy, print a Markdown table, and optionally write it into docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--note", default="", help="a sentence on the run's conditions, written under the table")
    args = parser.parse_args()
    heat = blob_map()
    map_to_boxes(heat, "top:0.05")  # warm-up: imports
    lines = ["## Heatmap to boxes (engine.localise, scripts/bench_localise.py)", "",
             f"Machine: {machine()}", "",
             "`map_to_boxes` on a 3000 x 3000 float32 map (Gaussian blob + 1 % noise), all components boxed; "
             f"median and minimum of {args.repeats} calls.", "",
             "| threshold | boxes | median s | min s | target s | |", "|---|---|---|---|---|---|"]
    for policy in POLICIES:
        t = timed(policy, heat, args.repeats)
        n = map_to_boxes(heat, policy).shape[0]
        verdict = "PASS" if statistics.median(t) <= TARGET_S else "FAIL"
        lines.append(f"| {policy} | {n} | {statistics.median(t):.3f} | {min(t):.3f} | {TARGET_S:g} | {verdict} |")
    if args.note:
        lines += ["", args.note]
    text = "\n".join(lines)
    print(text)
    if args.write:
        print(f"wrote {write_section('bench_localise', text)}")


if __name__ == "__main__":
    main()
