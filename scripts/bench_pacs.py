"""Benchmark PACS retrieval: a 200-image study on a local Orthanc, RadLens vs a bare dicomweb-client.

Run: ``.venv/bin/python scripts/bench_pacs.py [--write] [--repeats N] [--n 200]``. Needs Orthanc and
its DICOMweb plugin (``.ci/run`` installs them). ``radlens phantom`` writes N phantom DICOMs, which
are rewritten into one study (one patient, one series, new instance UIDs) and uploaded to an
Orthanc started on 127.0.0.1 with a temporary configuration (the tests' launcher,
``tests/pacs/orthanc_server.py``). Then, alternating, each run into a fresh folder:

* ``dicomweb-client``: ``DICOMwebClient.retrieve_study`` (all instances parsed into memory), the peer;
* ``dicomweb-client → files``: ``iter_study`` and ``save_as`` per instance (the same work as ours);
* RadLens WADO-RS, C-GET and C-MOVE: ``engine.pacs.retrieve`` into a folder, one atomic file per
  instance, with the time until the first file is complete (the first image can open then).

Target (issue #17): RadLens's WADO-RS at >= 0.8x the speed of the bare dicomweb-client retrieval.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "pacs"))

import pydicom  # noqa: E402
import requests  # noqa: E402
from benchdoc import machine, write_section  # noqa: E402
from dicomweb_client.api import DICOMwebClient  # noqa: E402
from orthanc_server import ORTHANC_AET, OUR_AET, PASSWORD, USER, OrthancServer, free_port  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from engine import pacs  # noqa: E402


def make_study(n: int, folder: Path, phantoms: Path | None = None) -> list[Path]:
    """``radlens phantom`` images (made now, or the first ``n`` under ``phantoms``) as one study of one series."""
    raw = phantoms or folder / "phantom"
    if phantoms is None:
        subprocess.run([sys.executable, "-m", "viewer.cli", "phantom", "--n", str(n), "--out", str(raw), "--seed",
                        "3", "--quiet"], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    study, series = generate_uid(), generate_uid()
    out = folder / "study"
    out.mkdir()
    files = []
    sources = sorted(raw.rglob("*.dcm"))[:n]
    if len(sources) < n:
        raise SystemExit(f"{raw} holds {len(sources)} DICOMs, fewer than --n {n}")
    for i, path in enumerate(sources):
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName, ds.StudyDate = "BENCH200", "BENCH^TWO^HUNDRED", "20240101"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = study, series, 1, i + 1
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        target = out / f"{i:04d}.dcm"
        ds.save_as(target, enforce_file_format=True)
        files.append(target)
    return files


def run_timed(fn: Callable[[Path], float | None], scratch: Path) -> tuple[float, float | None]:
    """(seconds, seconds to the first instance or None) of ``fn(fresh folder)``."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    t0 = time.perf_counter()
    first = fn(scratch)
    return time.perf_counter() - t0, (first - t0 if first is not None else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/benchmarks.md")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=200, help="images in the study (200)")
    parser.add_argument("--phantoms", type=Path, help="reuse the DICOMs of an earlier `radlens phantom --out DIR`")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="radlens-bench-pacs-"))
    server = OrthancServer(tmp / "orthanc", free_port())
    try:
        t0 = time.perf_counter()
        files = make_study(args.n, tmp, args.phantoms)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} phantom DICOMs ({size_mb:.0f} MB) made in {time.perf_counter() - t0:.0f} s")
        server.start()
        t0 = time.perf_counter()
        server.upload(files)
        print(f"uploaded to Orthanc in {time.perf_counter() - t0:.1f} s")
        study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)

        os.environ["RADLENS_BENCH_PASSWORD"] = PASSWORD
        web = pacs.PacsNode(name="bench-web", kind="dicomweb", base_url=server.dicomweb_url, auth="basic",
                            username=USER, secret="env:RADLENS_BENCH_PASSWORD", timeout_s=60)
        dimse = pacs.PacsNode(name="bench-dimse", kind="dimse", ae_title=ORTHANC_AET, host="127.0.0.1",
                              port=server.dicom_port, our_ae_title=OUR_AET, timeout_s=60)
        config = pacs.PacsConfig(path=tmp / "pacs.json",
                                 storage_scp=pacs.StorageScp(ae_title=OUR_AET, host="127.0.0.1", port=server.scp_port))

        def peer_memory(_out: Path) -> float | None:
            session = requests.Session()
            session.auth = (USER, PASSWORD)
            datasets = DICOMwebClient(server.dicomweb_url, session=session).retrieve_study(study)
            assert len(datasets) == len(files)
            return None

        def peer_files(out: Path) -> float | None:
            session = requests.Session()
            session.auth = (USER, PASSWORD)
            first = None
            for i, ds in enumerate(DICOMwebClient(server.dicomweb_url, session=session).iter_study(study)):
                ds.save_as(out / f"{i}.dcm", enforce_file_format=True)
                first = first or time.perf_counter()
            assert len(list(out.iterdir())) == len(files)
            return first

        def ours(method: pacs.config.Method, node: pacs.PacsNode) -> Callable[[Path], float | None]:
            def run(out: Path) -> float | None:
                stamps: list[float] = []
                result = pacs.retrieve(node, study, out=out, method=method, config=config,
                                       on_file=lambda _p: stamps.append(time.perf_counter()) if not stamps else None)
                assert len(result.files) == len(files)
                return stamps[0]

            return run

        cases: dict[str, Callable[[Path], float | None]] = {
            "dicomweb-client `retrieve_study` (peer, in memory)": peer_memory,
            "dicomweb-client `iter_study` + `save_as` (peer, to files)": peer_files,
            "RadLens WADO-RS": ours("wadors", web),
            "RadLens C-GET": ours("cget", dimse),
            "RadLens C-MOVE": ours("cmove", dimse),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        firsts: dict[str, list[float]] = {k: [] for k in cases}
        for name, fn in cases.items():  # warm-up: Orthanc's caches, imports
            run_timed(fn, tmp / "warm")
            print(f"warm-up {name}")
        for rep in range(args.repeats):
            order = list(cases.items()) if rep % 2 == 0 else list(reversed(cases.items()))
            for name, fn in order:
                seconds, first = run_timed(fn, tmp / "out")
                times[name].append(seconds)
                if first is not None:
                    firsts[name].append(first)
                print(f"  {name}: {seconds:.2f} s" + (f", first image {first:.3f} s" if first is not None else ""))
    finally:
        server.kill()
        pacs_dimse_shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    peer = statistics.median(times["dicomweb-client `retrieve_study` (peer, in memory)"])
    rows = []
    for name in cases:
        med = statistics.median(times[name])
        first_s = f"{statistics.median(firsts[name]):.3f}" if firsts[name] else "–"
        rows.append(f"| {name} | {med:.2f} | {len(files) / med:.0f} | {size_mb / med:.0f} | {first_s} | "
                    f"{peer / med:.2f}× |")
    ours_speed = peer / statistics.median(times["RadLens WADO-RS"])
    text = "\n".join([
        "## PACS retrieval (issue #17)",
        "",
        f"Generated by `python scripts/bench_pacs.py --write`. A study of {len(files)} phantom DICOMs "
        f"(`radlens phantom`, 512 × 512, {size_mb:.0f} MB) on a local Orthanc 1.10 with the DICOMweb plugin "
        f"(127.0.0.1, basic auth), each way run {args.repeats} times alternating order after a warm-up; "
        "medians. RadLens writes one atomic file per instance into a fresh folder; \"first image\" is the "
        "time until the first file is complete (the viewer opens it then). RadLens writes each instance's bytes "
        "as received (only the header is parsed, for the UIDs); dicomweb-client parses every instance with "
        "pydicom. Orthanc's `MaximumPduLength` is 131072 (its largest).",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} (shared machine).",
        "",
        "| retrieval | seconds | images/s | MB/s | first image (s) | speed vs dicomweb-client |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"RadLens WADO-RS runs at **{ours_speed:.2f}×** the speed of the bare dicomweb-client retrieval "
        f"(target ≥ 0.8×: {'met' if ours_speed >= 0.8 else 'NOT met'}).",
    ])
    print(text)
    if args.write:
        print(f"wrote {write_section('bench_pacs', text)}")


def pacs_dimse_shutdown() -> None:
    from engine.pacs.dimse import StorageServer

    StorageServer.shutdown_all()


if __name__ == "__main__":
    main()
