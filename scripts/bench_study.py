"""Benchmark `radlens study` (issue #15, "Performance"): images/s, Ray overhead, two-node speed-up, memory.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_study.py [--n 500] [--write] [--quick]``.

Everything is measured in one run, on phantoms generated once with ``radlens phantom`` into a cache
folder (``--cache``, default ``/tmp/radlens-bench-study``):

- the workload: the ``localisation`` preset without Δp and without SmoothGrad (``--smoothgrad`` keeps
  it), i.e. Grad-CAM at the bundle's default layer, the preset's full threshold grid (7 top
  fractions, 4 fractions of max, Otsu) x 3 annotator policies, pointing games, energy, Diff, EHR-AUC;
  the study explains the classes each image has ground-truth boxes for;
- (a) a plain in-process loop, as a script in its own process: load the model, then per image
  ``load_image`` -> ``engine.explain`` -> the same scoring functions (``training.study.score.score_class``,
  ``diff_inside_outside``, ``ehr_auc``), torch with ``--threads`` threads;
- (b) ``radlens study run`` with a local Ray and two workers (a subprocess, as a user runs it);
- (c) ``radlens study run --workers 0`` (in-process study);
- (a), (c), (b) run one after the other ``--repeat`` times (the ratios of each round are taken under
  one load; the medians are reported), each timed two ways: the whole process ("whole run", start-up,
  tables and report included) and steady (start-up excluded: (a) its loop, (b)/(c) ``study.json``'s
  ``timings.steady_images_per_s``);
- (d) pytorch-grad-cam (``GradCAM`` + ``ClassifierOutputTarget``, one call per class, as its README
  shows) on a subset: (d1) the same (image, class) pairs and the same scoring as the study; (d2) all
  five classes, map only, next to ``engine.explain`` with all five classes on the same images;
- two Ray nodes of one CPU each vs one node of one CPU (``ray.cluster_utils.Cluster``), each run in a
  child process pinned to as many cores as it has nodes (``--no-pin``: not pinned), so that the
  one-node run cannot use the second core for its driver and Ray processes;
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
    """(a) load -> engine.explain (Grad-CAM, classes with boxes) -> the study's scoring, per image.

    Returns (images, seconds of the loop: model loading and imports excluded)."""
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


def plain_child(argv: list[str]) -> int:
    """``--plain-child MODEL DATA N THREADS``: (a) as a script a user would write, in its own process.

    Prints JSON: images and the loop's seconds (the parent times the whole process: interpreter,
    imports, model loading, loop, exit).
    """
    import torch

    from engine import default_layer, load_model
    from training.study import load_study
    from training.study.data import list_work
    from training.study.score import Scoring

    bundle, data, n, threads = argv[0], argv[1], int(argv[2]), int(argv[3])
    torch.set_num_threads(threads)
    model = load_model(bundle, device="cpu")
    cfg = load_study(str(PRESET)).with_overrides(folder=data, limit=n)
    work = list_work(cfg.data, tuple(model.class_names))
    s = cfg.scoring_dict()
    scoring = Scoring(tuple(s["thresholds"]), float(s["pointing_tolerance_px"]), str(s["box_mode"]))
    images, loop_s = plain_loop(model, default_layer(model), work, scoring)
    print(json.dumps({"images": images, "loop_s": loop_s}))
    return 0


def plain_process(bundle: str, data: Path, n: int, threads: int) -> dict[str, Any]:
    """(a) in a fresh process (``plain_child``): images, loop seconds and the whole process's seconds."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--plain-child", bundle, str(data), str(n), str(threads)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=_env(threads), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the plain loop failed ({done.returncode}):\n{done.stderr[-3000:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    return {"done": int(res["images"]), "loop": float(res["loop_s"]), "wall": wall}


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
    timings = run.get("timings") or {}
    res = {"wall": wall, "seconds": float(run["seconds"]), "done": int(run["done"]),
           "failed": int(run["failed"]), "steady": timings.get("steady_images_per_s"),
           "start": timings.get("scoring_start_s"), "nodes": run.get("nodes_used")}
    if sampler:
        res.update(peak=sampler.peak, peak_root=sampler.peak_root, procs=sampler.peak_procs)
    return res


def cluster_study(study: Path, data: Path, out: Path, nodes: int, pin: bool = True) -> dict[str, Any]:
    """The study on a ``ray.cluster_utils.Cluster`` of ``nodes`` nodes with one CPU each (a child process).

    With ``pin`` the child and everything it starts (the nodes' Ray processes, the actors, the driver)
    run on ``nodes`` cores of this machine (``sched_setaffinity``): one node of one CPU gets one core,
    two nodes two. Unpinned, a one-CPU node on a 2-core machine also has the second core for the
    driver and Ray's own processes, which the two-node run must share: the speed-up is then
    understated. Returns the whole run's seconds (``wall``: Ray connection, actors and their model
    loading, tables and report included; the cluster's start excluded) and the study's steady images/s
    (``study.json`` timings: from the first batch's start to the last image).
    """
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--cluster-child", str(nodes), str(study), str(data),
           str(out), "1" if pin else "0"]
    done = subprocess.run(cmd, cwd=ROOT, env={**_env(1), "RAY_ADDRESS": ""}, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {nodes}-node cluster run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    run = json.loads((out / "study.json").read_text())["runs"][-1]
    timings = run.get("timings") or {}
    return {**res, "steady": timings.get("steady_images_per_s"), "start": timings.get("scoring_start_s")}


def cluster_child(argv: list[str]) -> int:
    """``--cluster-child NODES STUDY DATA OUT PIN``: start the Cluster (pinned to NODES cores) and run."""
    nodes, study, data, out, pin = int(argv[0]), argv[1], Path(argv[2]), Path(argv[3]), argv[4] == "1"
    if pin:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < nodes:
            raise SystemExit(f"--cluster-child: {nodes} cores asked for, {len(cores)} available")
        os.sched_setaffinity(0, cores[:nodes])  # inherited by every process the Cluster starts
    import ray
    from ray.cluster_utils import Cluster

    from training.study import load_study, run_study

    args = {"num_cpus": 1, "include_dashboard": False, "object_store_memory": 200 * 1024**2}
    cluster = Cluster(initialize_head=True, head_node_args=args)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1, object_store_memory=200 * 1024**2)
        cluster.wait_for_nodes()
        cfg = load_study(study).with_overrides(folder=str(data))
        t0 = time.perf_counter()
        summary = run_study(cfg, out, workers=None, address=cluster.address, progress=False)
        wall = time.perf_counter() - t0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    print(json.dumps({"wall": wall, "done": summary.done, "nodes_used": len(summary.nodes),
                      "cores": len(os.sched_getaffinity(0))}))
    return 0


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

    def step(name: str, fn: Callable[[], Any], rounds: bool = False) -> None:
        if name.split(".")[0] in parts:
            print(f"[{time.strftime('%H:%M:%S')}] {name} (load {loadavg()}) ...", flush=True)
            value = fn()
            if rounds:
                res.setdefault(name, []).append(value)
            else:
                res[name] = value
            print(f"    {value}", flush=True)
            meta["load_end"], meta["minutes"] = loadavg(), (time.time() - t_start) / 60
            (args.cache / "bench-results.json").write_text(json.dumps({"meta": meta, "res": res}, indent=1))

    # (a), (c), (b) interleaved, --repeat rounds: on a shared machine each round's ratios are taken under
    # one load, and the report gives their median
    meta["repeat"] = args.repeat
    for _ in range(args.repeat):
        step("a", lambda: plain_process(args.model, data, args.n, args.threads), rounds=True)
        step("c", lambda: cli_study(study, data, out / "inproc", 0, args.device, args.threads, limit=args.n),
             rounds=True)
        step("b", lambda: cli_study(study, data, out / "ray2", 2, args.device, 1, memory=True, limit=args.n),
             rounds=True)
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
        meta["pinned"] = not args.no_pin
        for _ in range(args.repeat):
            step("cluster.one", lambda: cluster_study(cstudy, cdata, out / "node1", 1, not args.no_pin), rounds=True)
            step("cluster.two", lambda: cluster_study(cstudy, cdata, out / "node2", 2, not args.no_pin), rounds=True)
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
    p.add_argument("--repeat", type=int, default=1, help="rounds of (a), (c), (b) interleaved and of the cluster "
                   "pair (medians of the per-round ratios are reported)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the cluster runs to one core per node")
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
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--plain-child"]:
        return plain_child(argv[1:])
    if argv[:1] == ["--cluster-child"]:
        return cluster_child(argv[1:])
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


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def abc_section(args: argparse.Namespace, meta: dict[str, Any], res: dict[str, Any]) -> list[str]:
    """(a), (b), (c): per variant the medians over the rounds, and the per-round ratios' medians."""
    n_rounds = len(res["a"])
    lines = ["| variant | images | whole run s | images/s | vs (a) | steady images/s | vs (a) loop | target | |",
             "|---|---|---|---|---|---|---|---|---|"]
    a_e2e = [rate(r["done"], r["wall"]) for r in res["a"]]
    a_loop = [rate(r["done"], r["loop"]) for r in res["a"]]
    lines.append(f"| (a) plain loop (a script: load the model, then `load_image` + `engine.explain` + the same "
                 f"scoring per image), {args.threads} torch threads | {res['a'][0]['done']} | "
                 f"{median([r['wall'] for r in res['a']]):.1f} | {median(a_e2e):.3f} | 1.00 | "
                 f"{median(a_loop):.3f} (its loop) | 1.00 | | |")
    for key, label in (("b", "(b) `radlens study run`, local Ray, `--workers 2` (1 thread per actor)"),
                       ("c", f"(c) `radlens study run --workers 0` ({args.threads} threads)")):
        if key not in res:
            continue
        runs = res[key][:n_rounds]
        e2e = [rate(r["done"], r["wall"]) for r in runs]
        steady = [r.get("steady") or float("nan") for r in runs]
        x_e2e = median([v / a for v, a in zip(e2e, a_e2e, strict=False)])
        x_steady = median([v / a for v, a in zip(steady, a_loop, strict=False)])
        target = f">= {RAY_TARGET}" if key == "b" else ""
        ok = f"{verdict(x_e2e >= RAY_TARGET)} whole run, {verdict(x_steady >= RAY_TARGET)} steady" if key == "b" else ""
        lines.append(f"| {label} | {runs[0]['done']} | {median([r['wall'] for r in runs]):.1f} | {median(e2e):.3f} | "
                     f"{x_e2e:.2f} | {median(steady):.3f} | {x_steady:.2f} | {target} | {ok} |")
    rounds = (f"{n_rounds} rounds of (a), (c), (b) one after the other; each figure is the median over the rounds, "
              "each ratio the median of the ratios within a round (same load)" if n_rounds > 1 else "one round")
    lines += ["", f"{rounds}. `whole run`: each variant as a command in a fresh process, timed from its start to "
              "its exit (interpreter, imports, model loading; for (b) and (c) also Ray's start, the actors and "
              "their model loading, the Parquet store, tables and report). `steady`: start-up excluded -- (a) "
              "its loop alone; (b) and (c) `study.json`'s `timings.steady_images_per_s` (images over the time "
              "from the first image's decoding to the last image stored; everything after start-up included)."]
    if "b" in res and "peak" in res["b"][0]:
        r = res["b"][0]
        lines[-1] += f" Peak RSS of (b)'s process tree: {r['peak'] / 2**20:.0f} MiB over {r['procs']} processes."
    return lines


def cluster_section(meta: dict[str, Any], res: dict[str, Any]) -> list[str]:
    """The two-node vs one-node comparison: medians over the rounds, speed-ups whole run and steady."""
    ones, twos = res["cluster.one"], res["cluster.two"]
    n_rounds = min(len(ones), len(twos))
    sp = median([rate(t["done"], t["wall"]) / rate(o["done"], o["wall"]) for o, t in zip(ones, twos, strict=False)])
    sst = median([(t.get("steady") or float("nan")) / (o.get("steady") or float("nan"))
                  for o, t in zip(ones, twos, strict=False)])
    pinned = meta.get("pinned", False)
    where = ("each run pinned to as many cores as it has nodes (`sched_setaffinity`, inherited by the driver, "
             "the nodes' Ray processes and the actors: one node of one CPU really has one core)" if pinned else
             "unpinned (the one-node run also has the machine's other core for the driver and Ray's processes)")
    lines = ["", f"`ray.cluster_utils.Cluster` on this machine, {ones[0]['done']} images, one scoring actor per "
             f"CPU (1 torch thread each), {where}; {n_rounds} round(s), medians:", "",
             "| cluster | nodes used | whole run s | images/s | steady images/s |", "|---|---|---|---|---|"]
    for label, runs in (("one node, 1 CPU", ones), ("two nodes, 1 CPU each", twos)):
        st = [r.get("steady") or float("nan") for r in runs]
        lines.append(f"| {label} | {runs[0]['nodes_used']} | {median([r['wall'] for r in runs]):.1f} | "
                     f"{median([rate(r['done'], r['wall']) for r in runs]):.3f} | {median(st):.3f} |")
    lines += ["", f"Speed-up two nodes / one node (goal >= {CLUSTER_TARGET}): whole run {sp:.2f} "
              f"({verdict(sp >= CLUSTER_TARGET)}), steady {sst:.2f} ({verdict(sst >= CLUSTER_TARGET)}). `whole run`: "
              "`run_study` on the started cluster (connecting, actors and their model loading, tables and report "
              "included; starting the cluster excluded); `steady`: `study.json`'s `timings.steady_images_per_s`."]
    return lines


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
    if "a" in res:
        lines += abc_section(args, meta, res)
    if "d" in parts and "d.pgc_same" in res:
        ps, pa_, ea = res["d.pgc_same"], res["d.pgc_all"], res["d.engine_all"]
        ours = median([rate(r["done"], r["wall"]) for r in res["b"]]) if "b" in res else None
        r_same = rate(ps[0], ps[2])
        r_pall, r_eall = rate(pa_[0], pa_[2]), rate(ea[0], ea[2])
        lines += ["", f"pytorch-grad-cam (`GradCAM`, one call per class with `ClassifierOutputTarget`) on the first "
                  f"{ps[0]} images, {args.threads} torch threads:", "",
                  "| comparison | pytorch-grad-cam images/s | ours images/s | ours / theirs | target | |",
                  "|---|---|---|---|---|---|"]
        ours_rows = [("(b) end to end", ours)]
        if "a" in res:
            ours_rows.append(("(a)'s loop", median([rate(r["done"], r["loop"]) for r in res["a"]])))
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
        lines += cluster_section(meta, res)
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
