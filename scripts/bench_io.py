"""Benchmark RadLens image I/O: a 3000x3000 16-bit DICOM and indexing 2,000 small DICOMs.

Run: ``.venv/bin/python scripts/bench_io.py [--write]``. Files go to a temporary folder.
Targets (issue #3): load + display pipeline <= 0.5 s; indexing 2,000 files <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdoc import machine, write_section

from engine.io import load_image
from engine.io.study import scan_folder
from engine.io.synthetic import write_dicom


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, list[float], float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big = root / "big.dcm"
        pixels = rng.integers(0, 4096, size=(3000, 3000), dtype=np.uint16)
        write_dicom(big, pixels, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024,
                    WindowCenter=40, WindowWidth=400, PhotometricInterpretation="MONOCHROME1")
        load_image(big)  # warm-up: imports, decoder discovery
        t = timed(lambda: load_image(big), args.repeats)
        rows.append(("load_image 3000x3000 16-bit DICOM (modality LUT + VOI + MONOCHROME1)", t, 0.5))
        image = load_image(big)
        t = timed(lambda: image.windowed(60, 300), args.repeats)
        rows.append(("re-window 3000x3000 (StudyImage.windowed)", t, None))

        folder = root / "series"
        small = rng.integers(0, 4096, size=(64, 64), dtype=np.uint16)
        for i in range(2000):
            sub = folder / f"s{i % 2}"
            sub.mkdir(parents=True, exist_ok=True)
            write_dicom(sub / f"im{i:04d}.dcm", small, PatientID="BENCH", PatientName="Bench^X",
                        StudyInstanceUID="1.2.3.4", SeriesInstanceUID=f"1.2.3.4.{i % 2 + 1}", InstanceNumber=i // 2 + 1)
        t = timed(lambda: scan_folder(folder), max(2, args.repeats // 2))
        rows.append(("scan_folder, 2,000 DICOM files (headers only)", t, 5.0))

    lines = ["## Image I/O (engine.io)", "", f"Machine: {machine()}", "",
             "| case | median s | min s | target s | |", "|---|---|---|---|---|"]
    for name, t, target in rows:
        verdict = "" if target is None else ("PASS" if statistics.median(t) <= target else "FAIL")
        tgt = "" if target is None else f"{target:g}"
        lines.append(f"| {name} | {statistics.median(t):.3f} | {min(t):.3f} | {tgt} | {verdict} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        print(f"wrote {write_section('bench_io', text)}")


if __name__ == "__main__":
    main()
