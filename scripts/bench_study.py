"""Benchmark `radlens study` (issue #15, "Performance"): images/s, Ray overhead, two-node speed-up, memory.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_study.py [--n 500] [--write] [--quick]``.

Everything is measured in one run, on phantoms generated once with ``radlens phantom`` into a cache
folder (``--cache``, default ``/tmp/radlens-bench-study``):

- the workload: the ``localisation`` preset without Δp and without SmoothGrad (``--smoothgrad`` keeps
  it), i.e. Grad-CAM at the bundle's default layer, the preset's full threshold grid (7 top
  fractions, 4 fractions of max, Otsu) x 3 annotator policies, pointing games, energy, Diff, EHR-AUC;
  the study explains the classes each image has ground-truth boxes for;
- (a) a plain in-process loop: ``load_image`` -> ``engine.explain`` -> the same scoring functions
  (``training.study.score.score_class``, ``diff_inside_outside``, ``ehr_auc``), torch with
  ``--threads`` threads;
- (b) ``radlens study run`` with a local Ray and two workers (a subprocess, as a user runs it);
- (c) ``radlens study run --workers 0`` (in-process study);
- (d) pytorch-grad-cam (``GradCAM`` + ``ClassifierOutputTarget``, one call per class, as its README
  shows) on a subset: (d1) the same (image, class) pairs and the same scoring as the study; (d2) all
  five classes, map only, next to ``engine.explain`` with all five classes on the same images;
- two Ray nodes of one CPU each vs one node of one CPU (``ray.cluster_utils.Cluster``);
- peak RSS of the study's process tree (driver + Ray's processes; psutil, sampled every 0.2 s) at
  200 vs 2,000 images. Cheaper method: a tiny seeded MobileNetV3-small bundle (64 px) on symlinked
  copies of 200 phantoms of 128 px, so that 2,000 images fit in minutes; the pipeline (work list, Ray Data
  stream, Parquet parts) is the same.

Each target is reported PASS/FAIL. ``--device cuda`` runs (a)-(c) on the GPU (not measured here).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PRESET = ROOT / "resources" / "studies" / "localisation.yaml"
RADLENS = [sys.executable, "-m", "viewer.cli"]
RAY_TARGET = 0.9
PGC_TARGET = 5.0
CLUSTER_TARGET = 1.8
MEMORY_TARGET = 0.10


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


# --- data --------------------------------------------------------------------------------------
def phantoms(cache: Path, n: int, seed: int = 11, size: int = 512) -> Path:
    """``radlens phantom --n N --seed SEED --size SIZE`` into the cache (generated once)."""
    out = cache / f"phantom-n{n}-s{seed}-{size}px"
    if (out / "train.csv").is_file() and len(list((out / "images").glob("*.dcm"))) == n:
        return out
    shutil.rmtree(out, ignore_errors=True)
    print(f"generating {n} phantoms in {out} ...", flush=True)
    subprocess.run([*RADLENS, "phantom", "--n", str(n), "--seed", str(seed), "--size", str(size), "--out", str(out),
                    "--quiet"],
                   check=True, cwd=ROOT, env=_env(1))
    return out


def copies(src: Path, n: int, cache: Path) -> Path:
    """A data set of ``n`` images: symlinks cycling over ``src``'s images, annotations copied per name."""
    import csv

    out = cache / f"copies-{src.name}-n{n}"
    if (out / "train.csv").is_file() and len(list((out / "images").iterdir())) == n:
        return out
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    files = sorted((src / "images").glob("*.dcm"))
    with (src / "train.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        by_id: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            by_id.setdefault(row["image_id"], []).append(row)
    with (out / "train.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for i in range(n):
            file = files[i % len(files)]
            new = f"copy{i:05d}_{file.stem}"
            (out / "images" / f"{new}.dcm").symlink_to(file.resolve())
            for row in by_id.get(file.stem, []):
                w.writerow({**row, "image_id": new})
    return out


def study_file(cache: Path, model: str, smoothgrad: bool, batch_size: int = 0) -> Path:
    """The localisation preset without Δp (and without SmoothGrad unless asked), for ``model``.

    ``batch_size`` (0 = the preset's) sets ``run.batch_size``: images per Ray batch and Parquet part.
    """
    import yaml

    doc = yaml.safe_load(PRESET.read_text(encoding="utf-8"))
    doc["name"] = "bench-localisation"
    doc["models"] = [model]
    doc["metrics"] = ["localisation"]
    if not smoothgrad:
        doc["methods"] = [m for m in doc["methods"] if m["name"] != "smoothgrad"]
    if batch_size:
        doc.setdefault("run", {})["batch_size"] = batch_size
    path = cache / f"bench-localisation-{abs(hash((model, smoothgrad, batch_size))) % 10**8}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["OMP_NUM_THREADS"] = str(threads)
    # a fresh local Ray even while another Ray (e.g. the Cluster pair) runs on this machine: without an
    # address the study's ray.init(num_cpus=...) joins the newest local cluster and fails (see docs/benchmarks.md)
    env.setdefault("RAY_ADDRESS", "local")
    return env


# --- memory of a process tree --------------------------------------------------------------------
class TreeMemory:
    """Samples the summed RSS of a process and all its descendants every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.2) -> None:
        from importlib import import_module

        import_module("ray")  # puts Ray's vendored psutil on sys.path (psutil is not a RadLens dependency)
        psutil = import_module("psutil")
        self.root = psutil.Process(pid)
        self.period = period
        self.peak = 0
        self.peak_root = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if p.pid == self.root.pid:
                    self.peak_root = max(self.peak_root, rss)
            if total > self.peak:
                self.peak, self.peak_procs = total, len(procs)
            self._stop.wait(self.period)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the measured variants -----------------------------------------------------------------------
def plain_loop(model: Any, layer: str, work: Any, scoring: Any) -> tuple[int, float]:
    """(a) load -> engine.explain (Grad-CAM, classes with boxes) -> the study's scoring, per image."""
    from engine import explain
    from engine.io import load_image
    from engine.localise import diff_inside_outside, ehr_auc
    from training.study.score import forward_probabilities, score_class

    t0 = time.perf_counter()
    for item in work.items:
        image = load_image(item.path).display
        present = [c for c in model.class_names if item.boxes.get(c)]
        if not present:
            forward_probabilities(model, image)  # the study reports every image's probabilities
            continue
        result = explain(model, image, method="gradcam", classes=present, layers=[layer])
        for c in present:
            heat = result.map(c, "image")
            raw = result.map(c, "image", normalisation="raw")
            pooled = [b for bs in item.boxes[c].values() for b in bs]
            score_class(heat, raw, item.boxes[c], scoring)
            diff_inside_outside(heat, pooled)
            ehr_auc(heat, pooled)
    return len(work.items), time.perf_counter() - t0


def pgc_loop(model: Any, layer: str, items: Sequence[Any], scoring: Any | None) -> tuple[int, int, float]:
    """(d) pytorch-grad-cam, one ``GradCAM`` call per class.

    With ``scoring``: the classes with boxes, each map scored like the study (d1); without: all
    classes, map in image pixels only (d2). Returns (images, maps, seconds).
    """
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from engine.io import load_image
    from engine.localise import diff_inside_outside, ehr_auc
    from engine.preprocess import maps_to_image, to_model_input
    from training.study.score import forward_probabilities, score_class

    module = copy.deepcopy(model.module).requires_grad_(True)  # the engine's copy is frozen; pgc needs grads
    cam = GradCAM(model=module, target_layers=[module.get_submodule(layer)])
    maps = 0
    t0 = time.perf_counter()
    for item in items:
        image = load_image(item.path).display
        classes = list(model.class_names)
        if scoring is not None:
            classes = [c for c in classes if item.boxes.get(c)]
        if not classes:
            forward_probabilities(model, image)
            continue
        x, geometry, _ = to_model_input(image, model.manifest)
        for c in classes:
            grey = cam(input_tensor=x, targets=[ClassifierOutputTarget(model.class_names.index(c))])
            heat = maps_to_image(torch.from_numpy(np.ascontiguousarray(grey)).float(), geometry)[0].numpy()
            maps += 1
            if scoring is not None:
                pooled = [b for bs in item.boxes[c].values() for b in bs]
                score_class(heat, heat, item.boxes[c], scoring)
                diff_inside_outside(heat, pooled)
                ehr_auc(heat, pooled)
    return len(items), maps, time.perf_counter() - t0


def engine_all_classes(model: Any, layer: str, items: Sequence[Any]) -> tuple[int, int, float]:
    """``engine.explain`` Grad-CAM, all classes, maps in image pixels (the d2 counterpart)."""
    from engine import explain
    from engine.io import load_image

    maps = 0
    t0 = time.perf_counter()
    for item in items:
        result = explain(model, load_image(item.path).display, method="gradcam", layers=[layer])
        for c in model.class_names:
            result.map(c, "image")
            maps += 1
    return len(items), maps, time.perf_counter() - t0


def cli_study(study: Path, data: Path, out: Path, workers: int | None, device: str, threads: int,
              memory: bool = False, limit: int = 0) -> dict[str, Any]:
    """``radlens study run`` as a subprocess: wall seconds, the study's own seconds, peak tree RSS."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*RADLENS, "study", "run", str(study), "--data", str(data), "--out", str(out), "--quiet",
           "--device", device]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if limit:
        cmd += ["--limit", str(limit)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    sampler = TreeMemory(proc.pid) if memory else None
    if sampler:
        sampler.__enter__()
    try:
        log, _ = proc.communicate()
    finally:
        if sampler:
            sampler.__exit__()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log[-3000:]}")
    run = json.loads((out / "study.json").read_text())["runs"][-1]
    res = {"wall": wall, "seconds": float(run["seconds"]), "done": int(run["done"]),
           "failed": int(run["failed"]), "steady": steady_rate(out), "nodes": run.get("nodes_used")}
    if sampler:
        res.update(peak=sampler.peak, peak_root=sampler.peak_root, procs=sampler.peak_procs)
    return res


def steady_rate(out: Path) -> float | None:
    """Images/s between the first and the last Parquet part written (model loading and start-up excluded)."""
    import pyarrow.parquet as pq

    parts = sorted((out / "results").glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    if len(parts) < 3:
        return None
    images = sum(len(set(pq.read_table(p, columns=["image"]).column("image").to_pylist())) for p in parts[1:])
    span = parts[-1].stat().st_mtime - parts[0].stat().st_mtime
    return images / span if span > 0 else None


def cluster_study(study: Path, data: Path, out: Path, nodes: int) -> dict[str, Any]:
    """The study on a ``ray.cluster_utils.Cluster`` of ``nodes`` nodes with one CPU each."""
    import ray
    from ray.cluster_utils import Cluster

    from training.study import load_study, run_study

    shutil.rmtree(out, ignore_errors=True)
    os.environ["PYTHONPATH"] = _env(1)["PYTHONPATH"]
    args = {"num_cpus": 1, "include_dashboard": False, "object_store_memory": 200 * 1024**2}
    cluster = Cluster(initialize_head=True, head_node_args=args)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1, object_store_memory=200 * 1024**2)
        cluster.wait_for_nodes()
        cfg = load_study(str(study)).with_overrides(folder=str(data))
        t0 = time.perf_counter()
        summary = run_study(cfg, out, workers=None, address=cluster.address, progress=False)
        wall = time.perf_counter() - t0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    return {"wall": wall, "done": summary.done, "nodes_used": len(summary.nodes), "steady": steady_rate(out)}


def tiny_bundle(cache: Path) -> Path:
    """A seeded MobileNetV3-small bundle (one channel, 64 px) with the phantom classes (memory pair)."""
    import torch
    import torchvision

    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest
    from training.phantom import CLASSES

    out = cache / "tiny-bundle"
    if (out / "manifest.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    manifest = ModelManifest(name="tiny-bench", version="0.1", architecture="mobilenet_v3_small",
                             class_names=tuple(CLASSES), input_size=(64, 64), in_channels=1, mean=(0.5,),
                             std=(0.25,))
    return Path(save_bundle(out, net, manifest))


# --- report --------------------------------------------------------------------------------------
def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def rate(n: float, s: float) -> float:
    return n / s if s > 0 else float("nan")


def measure(args: argparse.Namespace, parts: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every part asked for; the figures are also saved to ``CACHE/bench-results.json`` after each."""
    import torch
    from benchdoc import machine

    from engine import default_layer, load_model
    from training.study import load_study
    from training.study.data import list_work
    from training.study.score import Scoring

    torch.set_num_threads(args.threads)
    load_start, t_start = loadavg(), time.time()
    data = args.data or phantoms(args.cache, args.n)
    study = study_file(args.cache, args.model, args.smoothgrad)
    cfg = load_study(str(study)).with_overrides(folder=str(data), limit=args.n)
    model = load_model(args.model, device=args.device)
    layer = default_layer(model)
    work = list_work(cfg.data, tuple(model.class_names))
    s = cfg.scoring_dict()
    scoring = Scoring(tuple(s["thresholds"]), float(s["pointing_tolerance_px"]), str(s["box_mode"]))
    maps = sum(1 for it in work.items for c in model.class_names if it.boxes.get(c))
    out = args.cache / "runs"
    res: dict[str, Any] = {}
    source = f"`radlens phantom --n {args.n} --seed 11`" if args.data is None else f"from `{args.data}`"
    meta: dict[str, Any] = {"load_start": load_start, "model": args.model, "model_name": model.name, "layer": layer,
                            "n": len(work.items), "maps": maps, "thresholds": len(scoring.thresholds),
                            "source": source, "machine": machine()}

    def step(name: str, fn: Callable[[], Any]) -> None:
        if name.split(".")[0] in parts:
            print(f"[{time.strftime('%H:%M:%S')}] {name} (load {loadavg()}) ...", flush=True)
            res[name] = fn()
            print(f"    {res[name]}", flush=True)
            meta["load_end"], meta["minutes"] = loadavg(), (time.time() - t_start) / 60
            (args.cache / "bench-results.json").write_text(json.dumps({"meta": meta, "res": res}, indent=1))

    step("a", lambda: plain_loop(model, layer, work, scoring))
    step("c", lambda: cli_study(study, data, out / "inproc", 0, args.device, args.threads, limit=args.n))
    step("b", lambda: cli_study(study, data, out / "ray2", 2, args.device, 1, memory=True,
                                      limit=args.n))
    sub = work.items[: args.n_pgc]
    step("d.pgc_same", lambda: pgc_loop(model, layer, sub, scoring))
    step("d.pgc_all", lambda: pgc_loop(model, layer, sub, None))
    step("d.engine_all", lambda: engine_all_classes(model, layer, sub))
    if "cluster" in parts:
        cdata = copies(data, args.n_cluster, args.cache) if args.n_cluster > args.n else data
        ccfg = study_file(args.cache, args.model, args.smoothgrad)
        import yaml

        doc = yaml.safe_load(ccfg.read_text())
        doc["data"]["limit"] = args.n_cluster
        cstudy = args.cache / "bench-cluster.yaml"
        cstudy.write_text(yaml.safe_dump(doc, sort_keys=False))
        step("cluster.one", lambda: cluster_study(cstudy, cdata, out / "node1", 1))
        step("cluster.two", lambda: cluster_study(cstudy, cdata, out / "node2", 2))
    if "memory" in parts:
        small, large = (int(v) for v in args.mem.split(","))
        tiny = tiny_bundle(args.cache)
        mdata = phantoms(args.cache, min(small, 200), seed=11, size=128)
        mstudy = study_file(args.cache, str(tiny), False, args.mem_batch)
        step("memory.small", lambda: cli_study(mstudy, copies(mdata, small, args.cache), out / "mem-small", 2, "cpu",
                                               1, memory=True))
        step("memory.large", lambda: cli_study(mstudy, copies(mdata, large, args.cache), out / "mem-large", 2, "cpu",
                                               1, memory=True))

    meta["load_end"], meta["minutes"] = loadavg(), (time.time() - t_start) / 60
    return meta, res


def main(argv: list[str] | None = None) -> int:
    """Measure, print the Markdown section, and optionally write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="phantoms for (a), (b), (c) (default 500)")
    p.add_argument("--n-pgc", type=int, default=60, help="images of the pytorch-grad-cam subset (d)")
    p.add_argument("--n-cluster", type=int, default=120, help="images of the two-node comparison")
    p.add_argument("--mem", default="200,2000", help="image counts of the memory pair")
    p.add_argument("--mem-batch", type=int, default=50, help="run.batch_size of the memory pair (fewer Ray batches)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of (a), (c), (d)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device of (a)-(c)")
    p.add_argument("--smoothgrad", action="store_true", help="keep the preset's SmoothGrad (n = 30)")
    p.add_argument("--parts", default="a,b,c,d,cluster,memory", help="what to measure (comma list)")
    p.add_argument("--model", default="default", help="bundle of (a)-(d) and the cluster pair")
    p.add_argument("--data", type=Path, default=None, help="an existing phantom folder instead of generating one")
    p.add_argument("--cache", type=Path, default=Path("/tmp/radlens-bench-study"))
    p.add_argument("--quick", action="store_true", help="smoke run: 6 images, small subsets, 12 vs 24 for memory")
    p.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    p.add_argument("--render", type=Path, nargs="+", default=None,
                   help="only render saved bench-results.json files (parts measured by concurrent processes merged)")
    p.add_argument("--note", default="", help="a sentence on the run's conditions, written under the tables")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.n_pgc, args.n_cluster = min(args.n, 6), min(args.n_pgc, 2), min(args.n_cluster, 8)
        args.mem = "12,24"
    parts = set(args.parts.split(","))
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.render:
        meta, res = {}, {}
        for i, path in enumerate(args.render):
            saved = json.loads(path.read_text())
            res.update(saved["res"])
            if i == 0:
                meta = saved["meta"]
            else:
                m = saved["meta"]
                done = ", ".join(sorted({k.split(".")[0] for k in saved["res"]}))
                meta.setdefault("others", []).append(
                    f"{done}: a second process run at the same time, load average at start {m['load_start']}, "
                    f"at end {m['load_end']}, {m['minutes']:.1f} min")
    else:
        meta, res = measure(args, parts)
    text = report(args, parts, meta, res)
    print(text)
    if args.write:
        from benchdoc import write_section

        print(f"wrote {write_section('bench_study', text)}")
    return 0


def report(args: argparse.Namespace, parts: set[str], meta: dict[str, Any], res: dict[str, Any]) -> str:
    """The Markdown section from the measured figures."""
    methods = f"Grad-CAM (layer {meta['layer']})" + (" + SmoothGrad (n = 30, noise 0.1)" if args.smoothgrad else "")
    lines = ["## Dataset studies (`radlens study`, scripts/bench_study.py)", "",
             f"Machine: {meta['machine']}. Device: {args.device}. Load average (1/5/15 min) at start "
             f"{meta['load_start']}, at end {meta['load_end']}; the whole run took {meta['minutes']:.1f} min"
             + "".join(f"; {o}" for o in meta.get("others", [])) + ".", "",
             f"Workload: the `localisation` preset without Δp: {methods}; "
             + ("" if args.smoothgrad else "SmoothGrad (n = 30) left out, as it makes the run infeasible here; ")
             + f"threshold grid of the preset ({meta['thresholds']} thresholds) x policies mean/best/fused, "
             f"pointing games, energy, Diff, EHR-AUC; model `{meta['model']}` ({meta['model_name']}); "
             f"{meta['n']} phantoms ({meta['source']}), {meta['maps']} class maps with boxes "
             "(the study explains the classes an image has boxes for; images without a finding get the "
             "forward only).", ""]
    if {"a", "b", "c"} & parts:
        lines += ["| variant | images | s | images/s | steady images/s | vs (a) | target | |",
                  "|---|---|---|---|---|---|---|---|"]
        ra = rate(*res["a"]) if "a" in res else None
        if "a" in res:
            lines.append(f"| (a) plain loop: `engine.explain` + the same scoring, {args.threads} torch threads | "
                         f"{res['a'][0]} | {res['a'][1]:.1f} | {ra:.3f} | | 1.00 | | |")
        for key, label in (("b", "(b) `radlens study run`, local Ray, `--workers 2`"),
                           ("c", f"(c) `radlens study run --workers 0` ({args.threads} threads)")):
            if key not in res:
                continue
            r = res[key]
            rr = rate(r["done"], r["wall"])
            steady = f"{r['steady']:.3f}" if r["steady"] else ""
            ratio = rr / ra if ra else None
            target = f">= {RAY_TARGET}" if key == "b" else ""
            ok = verdict(ratio >= RAY_TARGET) if key == "b" and ratio is not None else ""
            lines.append(f"| {label} | {r['done']} | {r['wall']:.1f} | {rr:.3f} | {steady} | "
                         f"{'' if ratio is None else f'{ratio:.2f}'} | {target} | {ok} |")
        if "b" in res and ra:
            r = res["b"]
            lines += ["", "(b) and (c) are timed as the user sees them: the whole command (interpreter, model "
                      "loading, Ray start and its actors, tables) over the images; `steady` counts the images "
                      "between the first and the last Parquet part written (start-up and tables excluded)"
                      + ". `steady` is no measure of throughput: Ray Data may hand the scored batches to the "
                      "driver in bursts, so it can be far above the real rate; no verdict rests on it."
                      + f" Peak RSS of (b)'s process tree: {r['peak'] / 2**20:.0f} MiB over {r['procs']} processes."]
    if "d" in parts and "d.pgc_same" in res:
        ps, pa_, ea = res["d.pgc_same"], res["d.pgc_all"], res["d.engine_all"]
        ours = rate(res["b"]["done"], res["b"]["wall"]) if "b" in res else None
        r_same = rate(ps[0], ps[2])
        r_pall, r_eall = rate(pa_[0], pa_[2]), rate(ea[0], ea[2])
        lines += ["", f"pytorch-grad-cam (`GradCAM`, one call per class with `ClassifierOutputTarget`) on the first "
                  f"{ps[0]} images, {args.threads} torch threads:", "",
                  "| comparison | pytorch-grad-cam images/s | ours images/s | ours / theirs | target | |",
                  "|---|---|---|---|---|---|"]
        ours_rows = [("(b) end to end", ours)]
        if "a" in res:
            ours_rows.append(("(a)", rate(*res["a"])))
        for label, r in ours_rows:
            if r is None:
                continue
            x = r / r_same
            lines.append(f"| (d1) the study's work (classes with boxes, same scoring; {ps[1]} maps) vs {label} | "
                         f"{r_same:.3f} | {r:.3f} | {x:.2f} | >= {PGC_TARGET:g} | {verdict(x >= PGC_TARGET)} |")
        x2 = r_eall / r_pall
        lines.append(f"| (d2) all five classes, maps only ({pa_[1]} maps) vs `engine.explain` all classes in-process | "
                     f"{r_pall:.3f} | {r_eall:.3f} | {x2:.2f} | >= {PGC_TARGET:g} | {verdict(x2 >= PGC_TARGET)} |")
    if "cluster.one" in res:
        one, two = res["cluster.one"], res["cluster.two"]
        sp = rate(two["done"], two["wall"]) / rate(one["done"], one["wall"])
        sst = (two["steady"] / one["steady"]) if one["steady"] and two["steady"] else None
        lines += ["", f"`ray.cluster_utils.Cluster` on this machine, {one['done']} images, one scoring actor per CPU:",
                  "",
                  "| cluster | nodes used | s | images/s | steady images/s |", "|---|---|---|---|---|"]
        for label, r in (("one node, 1 CPU", one), ("two nodes, 1 CPU each", two)):
            st = f"{r['steady']:.3f}" if r["steady"] else ""
            lines.append(f"| {label} | {r['nodes_used']} | {r['wall']:.1f} | {rate(r['done'], r['wall']):.3f} | {st} |")
        lines += ["", f"Speed-up two nodes / one node (goal >= {CLUSTER_TARGET}): end to end {sp:.2f} "
                  f"({verdict(sp >= CLUSTER_TARGET)})"
                  + (f"; steady {sst:.2f} (not a verdict, see above)." if sst else ".")]
    if "memory.small" in res:
        sm, lg = res["memory.small"], res["memory.large"]
        growth = lg["peak"] / sm["peak"] - 1
        lines += ["", "Peak memory (summed RSS of the `radlens study run` process and every descendant: Ray's "
                  "GCS, raylet, workers; sampled every 0.2 s; shared pages count once per process). Cheaper "
                  "method: a seeded MobileNetV3-small bundle (64 px) instead of the bundled model, on symlinked "
                  "copies of 200 phantoms of 128 px, local Ray, `--workers 2`, "
                  f"`run.batch_size: {args.mem_batch}` (fewer Ray batches; the same per-batch memory at both sizes):",
                  "",
                  "| images | s | peak tree RSS MiB | peak driver RSS MiB | processes |", "|---|---|---|---|---|"]
        for r in (sm, lg):
            lines.append(f"| {r['done']} | {r['wall']:.1f} | {r['peak'] / 2**20:.0f} | {r['peak_root'] / 2**20:.0f} "
                         f"| {r['procs']} |")
        lines += ["", f"Growth {sm['done']} -> {lg['done']} images: {growth * 100:+.1f} % "
                  f"(goal within {MEMORY_TARGET * 100:.0f} %): {verdict(abs(growth) <= MEMORY_TARGET)}."]
    lines += ["", "GPU: not measured (no GPU lent to this task); `--device cuda` runs (a)-(c) on CUDA."]
    if args.note:
        lines += ["", args.note]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
