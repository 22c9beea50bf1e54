"""Benchmark RadLens image I/O: a 3000x3000 16-bit DICOM and indexing 2,000 small DICOMs.

Run: ``.venv/bin/python scripts/bench_io.py``. Everything is written to a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.io import load_image
from engine.io.study import scan_folder
from engine.io.synthetic import write_dicom


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big = root / "big.dcm"
        pixels = rng.integers(0, 4096, size=(3000, 3000), dtype=np.uint16)
        write_dicom(
            big,
            pixels,
            bits_stored=12,
            RescaleSlope=1,
            RescaleIntercept=-1024,
            WindowCenter=40,
            WindowWidth=400,
            PhotometricInterpretation="MONOCHROME1",
        )
        t0 = time.perf_counter()
        image = load_image(big)
        t1 = time.perf_counter()
        for c in range(5):
            image.windowed(40 + 10 * c, 400)
        t2 = time.perf_counter()
        print(f"load_image 3000x3000 uint16 (modality+VOI+invert): {t1 - t0:.3f} s")
        print(f"re-window (with_window) 3000x3000: {(t2 - t1) / 5 * 1000:.0f} ms each")

        folder = root / "series"
        study, series = "1.2.3.4", ["1.2.3.4.1", "1.2.3.4.2"]
        small = rng.integers(0, 4096, size=(64, 64), dtype=np.uint16)
        for i in range(2000):
            sub = folder / f"s{i % 2}"
            sub.mkdir(parents=True, exist_ok=True)
            write_dicom(
                sub / f"im{i:04d}.dcm",
                small,
                PatientID="BENCH",
                PatientName="Bench^X",
                StudyInstanceUID=study,
                SeriesInstanceUID=series[i % 2],
                InstanceNumber=i // 2 + 1,
            )
        t0 = time.perf_counter()
        index = scan_folder(folder)
        t1 = time.perf_counter()
        print(f"scan_folder 2000 DICOM files: {t1 - t0:.3f} s ({index.summary()})")


if __name__ == "__main__":
    main()
