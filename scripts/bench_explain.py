"""Benchmark RadLens explanations against pytorch-grad-cam, torchcam, Captum and the physical floor.

Run: ``.venv/bin/python scripts/bench_explain.py [--quick] [--device cpu|cuda] [--write]``.

Every contender runs in this one process on the same input tensor (the one RadLens's own
``to_model_input`` builds from a 224x224 image, so no resize is timed), the same target layer
(``layer4``) and the same classes. Each contender gets its own copy of the seeded, untrained
network, is warmed up, and is then timed in interleaved rounds (the order rotates every round) so
that load from other processes hits all of them alike. The median and the minimum are reported.

Cases (from the performance issue):

1. all-class Grad-CAM, ResNet-50, 15 classes;
2. the same for Grad-CAM++;
3. all-class Score-CAM, ResNet-18, 15 classes (slow peers are timed on a few classes and
   extrapolated to 15, which is labelled);
4. SmoothGrad, n = 50, noise 0.15, one class, ResNet-50.

With ``--write`` the tables replace the section between ``<!-- bench_explain:start -->`` and
``<!-- bench_explain:end -->`` in ``docs/benchmarks.md``; other sections are kept.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's Score-CAM draws progress bars

import numpy as np
import torch
import torchvision
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import explain  # noqa: E402
from engine.explainers.base import Context, auto_batch_size  # noqa: E402
from engine.models.bundle import LoadedModel  # noqa: E402
from engine.models.manifest import ModelManifest  # noqa: E402
from engine.preprocess import to_model_input  # noqa: E402
from engine.runtime import library_versions  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_explain:start -->", "<!-- bench_explain:end -->"
N_CLASSES = 15
CLASS_NAMES = tuple(f"finding_{i:02d}" for i in range(N_CLASSES))
LAYER = "layer4"


# --- timing ------------------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of doing a case's work; ``fn`` returns RadLens's result (or None)."""

    name: str
    fn: Callable[[], Any]
    scale: float = 1.0  # extrapolation factor applied to measured times
    label: str = ""  # e.g. "(measured on 2 classes, x15/2)"
    wall: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)  # RadLens's own elapsed_s
    mem: list[int] = field(default_factory=list)
    warm: Callable[[], Any] | None = None  # cheaper warm-up for very slow contenders

    @property
    def median(self) -> float:
        return statistics.median(self.wall) * self.scale

    @property
    def best(self) -> float:
        return min(self.wall) * self.scale


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(c: Contender, device: torch.device) -> None:
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    out = c.fn()
    _sync(device)
    c.wall.append(time.perf_counter() - t0)
    if device.type == "cuda":
        c.mem.append(torch.cuda.max_memory_allocated(device) - base)
    if out is not None and hasattr(out, "elapsed_s"):
        c.inner.append(out.elapsed_s)
    del out


def run_case(title: str, contenders: list[Contender], device: torch.device, warmup: int, repeats: int) -> None:
    """Warm every contender up, then time them in interleaved rounds with a rotating order."""
    print(f"\n== {title}", flush=True)
    for c in contenders:
        t0 = time.perf_counter()
        for _ in range(warmup):
            (c.warm or c.fn)()
            _sync(device)
        print(f"   warm-up {c.name}: {(time.perf_counter() - t0) / max(warmup, 1):.3f} s/call", flush=True)
    for r in range(repeats):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for c in order:
            time_once(c, device)
        print(f"   round {r + 1}/{repeats}: "
              + ", ".join(f"{c.name} {c.wall[-1] * c.scale:.3f} s" for c in contenders), flush=True)
    for c in contenders:
        print(f"   -> {row_text(c)}", flush=True)


def row_text(c: Contender) -> str:
    s = f"{c.name}{' ' + c.label if c.label else ''}: median {c.median:.3f} s, min {c.best:.3f} s"
    if c.inner:
        s += f" (method only: median {statistics.median(c.inner):.3f} s, min {min(c.inner):.3f} s)"
    return s


# --- models and inputs -------------------------------------------------------------------------


def build(arch: str, device: torch.device) -> tuple[nn.Module, LoadedModel, np.ndarray, torch.Tensor]:
    """A seeded untrained network, its RadLens wrapper, a 224x224 image and RadLens's input tensor."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None, num_classes=N_CLASSES).eval()
    manifest = ModelManifest(name=f"bench-{arch}", version="0", architecture=arch,
                             class_names=CLASS_NAMES, input_size=(224, 224))
    model = LoadedModel.from_module(copy.deepcopy(net), manifest, device=device)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224] / 223.0
    image = (0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy) + 0.1 * rng.standard_normal((224, 224)))
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    x, _geometry, _scaling = to_model_input(image, manifest)
    return net, model, image, x.to(device)


def copy_of(net: nn.Module, device: torch.device, *, grad: bool) -> nn.Module:
    m = copy.deepcopy(net).to(device).eval()
    for p in m.parameters():
        p.requires_grad_(grad)
    return m


# --- cases ---------------------------------------------------------------------------------------


def case_cam(method: str, device: torch.device, warmup: int, repeats: int) -> list[Contender]:
    import pytorch_grad_cam as pgc
    import torchcam.methods as tcm
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net, model, image, x = build("resnet50", device)
    floor_net = copy_of(net, device, grad=False)
    pgc_cls = {"gradcam": pgc.GradCAM, "gradcampp": pgc.GradCAMPlusPlus}[method]
    tc_cls = {"gradcam": tcm.GradCAM, "gradcampp": tcm.GradCAMpp}[method]
    pgc_net = copy_of(net, device, grad=True)  # it calls loss.backward(): parameters must require grad
    pgc_cam = pgc_cls(model=pgc_net, target_layers=[pgc_net.get_submodule(LAYER)])
    targets = [[ClassifierOutputTarget(c)] for c in range(N_CLASSES)]
    tc_net = copy_of(net, device, grad=False)  # frozen; the input requires grad instead
    tc_cam = tc_cls(tc_net, target_layer=LAYER)
    x_req = x.detach().clone().requires_grad_(True)
    tc2_net = copy_of(net, device, grad=True)  # as a user's trainable model comes
    tc2_cam = tc_cls(tc2_net, target_layer=LAYER)

    def floor() -> None:
        with torch.inference_mode():
            floor_net(x)

    def radlens() -> Any:
        return explain(model, image, method, classes=None, layers=[LAYER])

    def pytorch_grad_cam() -> None:
        for t in targets:
            pgc_cam(input_tensor=x, targets=t)

    def torchcam() -> list[torch.Tensor]:
        scores = tc_net(x_req)
        return [tc_cam(c, scores, retain_graph=c < N_CLASSES - 1)[0] for c in range(N_CLASSES)]

    def torchcam_params() -> list[torch.Tensor]:
        scores = tc2_net(x)
        return [tc2_cam(c, scores, retain_graph=c < N_CLASSES - 1)[0] for c in range(N_CLASSES)]

    cs = [Contender("floor (1 forward, inference_mode)", floor), Contender("RadLens explain()", radlens),
          Contender("pytorch-grad-cam (15 calls)", pytorch_grad_cam),
          Contender("torchcam (1 forward + 15 retain_graph calls; frozen params, input requires grad)", torchcam),
          Contender("torchcam-b (same, params require grad)", torchcam_params)]
    label = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++"}[method]
    run_case(f"All-class {label}, ResNet-50, {N_CLASSES} classes, 224x224", cs, device, warmup, repeats)
    pgc_cam.activations_and_grads.release()
    tc_cam.remove_hooks()
    tc2_cam.remove_hooks()
    return cs


def case_scorecam(device: torch.device, warmup: int, repeats: int, k: int, batch: int) -> list[Contender]:
    import pytorch_grad_cam as pgc
    import torchcam.methods as tcm
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net, model, image, x = build("resnet18", device)
    floor_net = copy_of(net, device, grad=False)
    pgc_net = copy_of(net, device, grad=False)  # Score-CAM needs no gradients
    pgc_cam = pgc.ScoreCAM(model=pgc_net, target_layers=[pgc_net.get_submodule(LAYER)])
    pgc_cam.batch_size = batch
    tc_net = copy_of(net, device, grad=False)
    tc_cam = tcm.ScoreCAM(tc_net, target_layer=LAYER, batch_size=batch)
    scale = N_CLASSES / k
    tag = f"(measured on {k} classes, x{N_CLASSES}/{k})"

    def floor() -> None:
        with torch.inference_mode():
            floor_net(x)

    def radlens() -> Any:
        return explain(model, image, "scorecam", classes=None, layers=[LAYER])

    def radlens_b() -> Any:
        return explain(model, image, "scorecam", classes=None, layers=[LAYER], batch_size=batch)

    def radlens_warm() -> Any:
        return explain(model, image, "gradcam", classes=None, layers=[LAYER])  # fills per-model caches

    def pgc_warm() -> None:
        pgc_net(x)

    def tc_warm() -> None:
        with torch.inference_mode():
            tc_net(x)

    def pytorch_grad_cam() -> None:
        for c in range(k):
            pgc_cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])

    def torchcam() -> None:
        with torch.inference_mode():
            tc_net(x)  # hooks the activation and the input once
        for c in range(k):
            tc_cam(c)

    cs = [Contender("floor (1 forward, inference_mode)", floor),
          Contender("RadLens explain() (auto batch size)", radlens, warm=radlens_warm),
          Contender(f"RadLens-b explain(batch_size={batch}) (diagnostic)", radlens_b, warm=radlens_warm),
          Contender(f"pytorch-grad-cam ScoreCAM (per class, batch {batch})", pytorch_grad_cam, scale, tag,
                    warm=pgc_warm),
          Contender(f"torchcam ScoreCAM (per class, batch {batch})", torchcam, scale, tag, warm=tc_warm)]
    run_case(f"All-class Score-CAM, ResNet-18, {N_CLASSES} classes, 224x224", cs, device, warmup, repeats)
    pgc_cam.activations_and_grads.release()
    tc_cam.remove_hooks()
    return cs


def case_smoothgrad(device: torch.device, warmup: int, repeats: int, n: int = 50,
                    noise: float = 0.15, cls: int = 3) -> list[Contender]:
    from captum.attr import NoiseTunnel, Saliency

    net, model, image, x = build("resnet50", device)
    sigma = noise * float(x.max() - x.min())  # RadLens's definition: fraction of the input range
    floor_net = copy_of(net, device, grad=False)
    cap_net = copy_of(net, device, grad=False)
    tunnel = NoiseTunnel(Saliency(cap_net))
    gen = torch.Generator(device="cpu").manual_seed(1)
    eps = (torch.randn((n, *x.shape[1:]), generator=gen) * sigma).to(device)

    def floor() -> None:
        xs = (x.repeat(n, 1, 1, 1) + eps).requires_grad_(True)
        floor_net(xs)[:, cls].sum().backward()

    def radlens() -> Any:
        return explain(model, image, "smoothgrad", classes=[cls], n=n, noise=noise, seed=0)

    def captum() -> torch.Tensor:
        return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=n,
                                stdevs=sigma, target=cls)

    # RadLens splits the copies into memory-sized chunks; give the floor and Captum the same chunks.
    chunk = auto_batch_size(Context(module=model.module, x=x, device=device), n, with_grad=True)

    def floor_chunked() -> None:
        for e in eps.split(chunk):
            xs = (x.repeat(e.shape[0], 1, 1, 1) + e).requires_grad_(True)
            floor_net(xs)[:, cls].sum().backward()

    def captum_chunked() -> torch.Tensor:
        return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=chunk,
                                stdevs=sigma, target=cls)

    cs = [Contender(f"floor ({n} noisy copies, 1 batched fwd+bwd)", floor),
          Contender(f"floor-b (same, in chunks of {chunk} like RadLens)", floor_chunked),
          Contender("RadLens explain()", radlens),
          Contender(f"Captum NoiseTunnel(Saliency), batch {n}", captum),
          Contender(f"Captum-b (same, nt_samples_batch_size={chunk})", captum_chunked)]
    run_case(f"SmoothGrad n={n}, noise {noise}, 1 class, ResNet-50, 224x224", cs, device, warmup, repeats)
    return cs


# --- overhead breakdown -------------------------------------------------------------------------


def overhead_breakdown(device: torch.device, repeats: int) -> list[tuple[str, float]]:
    """Per-call costs of the non-method parts of ``explain()`` (median of ``repeats`` calls)."""
    _net, model, image, _x = build("resnet50", device)

    def med(fn: Callable[[], Any]) -> float:
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    explain(model, image, "gradcam", layers=[LAYER])  # fills the per-model caches (layer probe, head check)
    return [
        ("library_versions()", med(library_versions)),
        ("to_model_input(224x224 image)", med(lambda: to_model_input(image, model.manifest))),
        ("model.identity() + manifest tensors", med(lambda: (model.identity(), torch.tensor(model.manifest.mean)))),
    ]


# --- report --------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"CPU": cpu, "cores (os.cpu_count)": str(os.cpu_count()), "torch": torch.__version__,
            "torch threads": str(torch.get_num_threads()), "python": platform.python_version(),
            "date": dt.datetime.now().astimezone().isoformat(timespec="minutes")}
    if hasattr(os, "getloadavg"):
        info["load average (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    if torch.cuda.is_available():
        info["GPU"] = torch.cuda.get_device_name(0)
    return info


def fmt_s(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"


def table(cs: list[Contender], cuda: bool) -> list[str]:
    head = "| contender | median | min | method only (elapsed_s) median / min |" + (" peak GPU mem |" if cuda else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cs:
        inner = f"{fmt_s(statistics.median(c.inner))} / {fmt_s(min(c.inner))}" if c.inner else ""
        mem = f" {max(c.mem) / 2**20:.0f} MiB |" if cuda and c.mem else (" |" if cuda else "")
        name = f"{c.name} {c.label}".strip()
        lines.append(f"| {name} | {fmt_s(c.median)} | {fmt_s(c.best)} | {inner} |{mem}")
    return lines


@dataclass
class Target:
    text: str
    median: float
    best: float
    passed: bool


def ratio_target(text: str, num: Contender, den: Contender, op: str, bound: float) -> Target:
    med, best = num.median / den.median, num.best / den.best
    ok = med <= bound if op == "<=" else med >= bound
    return Target(f"{text} {op} {bound:g}", med, best, ok)


def targets_for(name: str, cs: list[Contender]) -> list[Target]:
    """Targets on ratios of medians; a peer (or the floor) counts at its best variant (``X``/``X-b``)."""
    by: dict[str, Contender] = {}
    for c in cs:
        key = c.name.split(" ")[0].removesuffix("-b")
        if key == "RadLens" and c.name.startswith("RadLens-b"):
            continue  # diagnostic rows never stand in for RadLens
        if key not in by or c.median < by[key].median:
            by[key] = c
    rl = by["RadLens"]
    if name in ("gradcam", "gradcampp"):
        return [ratio_target("RadLens / floor", rl, by["floor"], "<=", 1.2),
                ratio_target("pytorch-grad-cam / RadLens", by["pytorch-grad-cam"], rl, ">=", 20),
                ratio_target("torchcam (best variant) / RadLens", by["torchcam"], rl, ">=", 1.3)]
    if name == "scorecam":
        return [ratio_target("pytorch-grad-cam / RadLens", by["pytorch-grad-cam"], rl, ">=", 5),
                ratio_target("torchcam / RadLens", by["torchcam"], rl, ">=", 5)]
    return [ratio_target("RadLens / floor (best variant)", rl, by["floor"], "<=", 1.15),
            ratio_target("Captum (best variant) / RadLens", by["Captum"], rl, ">=", 1.0)]


def target_lines(ts: list[Target]) -> list[str]:
    lines = ["| target | ratio of medians | ratio of minima | result |", "|---|---|---|---|"]
    for t in ts:
        lines.append(f"| {t.text} | {t.median:.2f} | {t.best:.2f} | {'PASS' if t.passed else 'FAIL'} |")
    return lines


def section(results: list[tuple[str, str, list[Contender]]], breakdown: list[tuple[str, float]],
            info: dict[str, str], args: argparse.Namespace, cuda: bool) -> str:
    cmd = "python scripts/bench_explain.py" + (" --quick" if args.quick else "") + f" --device {args.device} --write"
    out = [START, "## Explanations (engine)", "",
           f"Generated by `{cmd}` (`make bench`). RadLens vs pytorch-grad-cam, torchcam and Captum doing "
           "the same work, and the physical floor, all in one process on the same input tensor "
           f"(224x224, built by RadLens's `to_model_input`), the same layer (`{LAYER}`) and the same classes. "
           "Untrained seeded torchvision networks with 15 outputs. Every contender has its own copy of "
           "the network, is warmed up, and is timed in interleaved rounds whose order rotates; median and "
           f"minimum over {args.repeats} rounds (Score-CAM: {args.score_repeats}, SmoothGrad: "
           f"{args.sg_repeats}). RadLens is timed around the whole `explain()` call (input conversion "
           "and result construction included); `elapsed_s` is the method alone. "
           "Targets are judged on the ratio of medians.", "",
           "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items())
           + (f"; load average (1 min) at end: {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
           + ". A load above the core count means other processes shared the CPUs: compare the minima.", ""]
    verdicts = []
    for key, title, cs in results:
        out += [f"### {title}", "", *table(cs, cuda), "", *target_lines(targets_for(key, cs)), ""]
        verdicts += targets_for(key, cs)
    out += ["### Per-call overhead of `explain()` outside the method (median)", "",
            "| part | time |", "|---|---|"]
    out += [f"| {name} | {v * 1000:.2f} ms |" for name, v in breakdown]
    out += ["", "How each peer is used (its best, as documented):", "",
            "- pytorch-grad-cam: one call per class (that is its API); its model copy has parameters "
            "requiring grad because it calls `loss.backward()`. Score-CAM with `batch_size` set.",
            "- torchcam: one forward, then one extractor call per class with `retain_graph=True` "
            "(the last without); frozen parameters, the input requires grad so the graph exists. "
            "Score-CAM: one inference forward, then one extractor call per class.",
            "- Captum: `NoiseTunnel(Saliency(model)).attribute(..., nt_type='smoothgrad', "
            "nt_samples=50, nt_samples_batch_size=50)` with the same absolute sigma as RadLens.",
            "- Slow Score-CAM peers are measured on a few classes and multiplied to 15, as labelled. "
            "Score-CAM calls take tens of seconds, so each contender is warmed up with one forward "
            "(RadLens: one Grad-CAM call on the same model, which fills its per-model caches).",
            "- Rows ending in `-b` are variants: a peer or the floor counts at its faster variant; "
            "`RadLens-b` is a diagnostic (a user-set batch size) and never counts for RadLens.",
            "", f"Summary: {sum(t.passed for t in verdicts)} of {len(verdicts)} targets pass.", END]
    return "\n".join(out) + "\n"


def write_doc(text: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchdoc import write_section

    body = text.replace(START, "").replace(END, "").strip()
    path = write_section("bench_explain", body)
    print(f"\nwrote {path.relative_to(ROOT)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and peer classes (smoke run)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--only", nargs="*", choices=("gradcam", "gradcampp", "scorecam", "smoothgrad"),
                        help="run only these cases")
    args = parser.parse_args(argv)
    if args.only and args.write:
        parser.error("--write needs every case (the section is replaced whole); drop --only")
    args.repeats = 2 if args.quick else 7
    args.score_repeats = 1 if args.quick else 2
    args.sg_repeats = 1 if args.quick else 3
    peer_classes = 1 if args.quick else 2
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here; use --device cpu", file=sys.stderr)
        return 2
    torch.set_num_threads(os.cpu_count() or 1)
    warnings.filterwarnings("ignore")
    info = machine()
    print("machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    cases = args.only or ["gradcam", "gradcampp", "scorecam", "smoothgrad"]
    results: list[tuple[str, str, list[Contender]]] = []
    warm = 1 if args.quick else 2
    batch = 64
    for key in cases:
        if key in ("gradcam", "gradcampp"):
            cs = case_cam(key, device, warm, args.repeats)
            title = f"All-class {'Grad-CAM' if key == 'gradcam' else 'Grad-CAM++'}, ResNet-50, 15 classes"
        elif key == "scorecam":
            cs = case_scorecam(device, 1, args.score_repeats, peer_classes, batch)
            title = "All-class Score-CAM, ResNet-18, 15 classes"
        else:
            cs = case_smoothgrad(device, 1, args.sg_repeats)
            title = "SmoothGrad n=50, noise 0.15, one class, ResNet-50"
        results.append((key, title, cs))
    breakdown = overhead_breakdown(device, 5 if args.quick else 20)
    text = section(results, breakdown, info, args, device.type == "cuda")
    print("\n" + text, flush=True)
    if args.write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
