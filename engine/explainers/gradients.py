"""Methods on the gradient of a class score with respect to the input pixels."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from engine.explainers.base import Context, Explainer, MethodOutput, Param, auto_batch_size, register
from engine.explainers.hooks import logits_of

REDUCTIONS = ("max", "sum", "mean")
#: SmoothGrad aggregation conventions (``aggregate`` parameter, used when ``abs`` is on):
#: ``abs_mean`` = |mean over the noisy copies of the signed gradient| (Smilkov et al. 2017, their
#: reference code PAIR-code/saliency: the smoothed gradient is the plain mean, absolute values are
#: taken for display), the default; ``mean_abs`` = mean of |gradient| (Captum's NoiseTunnel over
#: ``Saliency(abs=True)``, and RadLens before issue #14).
SMOOTHGRAD_AGGREGATES = ("abs_mean", "mean_abs")
#: Integrated Gradients: relative completeness gap above which a result carries a warning note.
IG_COMPLETENESS_TOLERANCE = 0.05


def input_gradients(
    ctx: Context, xs: torch.Tensor, classes: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward of the batch ``xs``; per class the gradient of its score w.r.t. each input.

    Returns:
        Scores ``(B, C)`` and gradients ``(len(classes), B, C_in, H, W)``. Samples are
        independent (eval mode), so the gradient of the summed score is each sample's own.
    """
    xs = xs.detach().requires_grad_(True)
    with torch.enable_grad(), ctx.amp():
        scores = logits_of(ctx.module(xs))
    grads = []
    for i, c in enumerate(classes):
        (g,) = torch.autograd.grad(scores[:, c].sum(), xs, retain_graph=i < len(classes) - 1)
        grads.append(g.float())
    return scores.detach().float(), torch.stack(grads)


def gaussian_noise(n: int, shape: Sequence[int], sigma: float, seed: int) -> torch.Tensor:
    """``n`` draws of N(0, sigma^2) noise of ``shape``, all at once so chunking cannot change them."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn((n, *shape), generator=gen) * sigma


def reduce_channels(g: torch.Tensor, how: str) -> torch.Tensor:
    """``(..., C_in, H, W)`` -> ``(..., H, W)``."""
    if how == "max":
        return g.amax(dim=-3)
    if how == "sum":
        return g.sum(dim=-3)
    return g.mean(dim=-3)


def smoothgrad_sum(
    ctx: Context, classes: Sequence[int], noise_batches: Sequence[torch.Tensor], *, absolute: bool,
    total: int, label: str,
) -> torch.Tensor:
    """Sum over noisy copies of (|)grad(|) per class: ``(len(classes), C_in, H, W)``."""
    acc = torch.zeros((len(classes), *ctx.x.shape[1:]), device=ctx.x.device)
    done = 0
    for noise in noise_batches:
        ctx.step(done / total, f"{label}: copies {done + 1}-{done + noise.shape[0]} of {total}")
        _, g = input_gradients(ctx, ctx.x + noise.to(ctx.x.device), classes)
        acc += (g.abs() if absolute else g).sum(dim=1)
        done += noise.shape[0]
    return acc


@register("vanilla-gradient", "gradient")
class Saliency(Explainer):
    name = "saliency"
    label = "Saliency"
    family = "gradient"
    summary = "dy^c/dx (Simonyan et al.); |.| reduced over channels by max"
    params = (
        Param("abs", True, bool, "take the absolute gradient"),
        Param("reduce", "max", str, "how input channels are combined", REDUCTIONS),
    )

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        ctx.step(0.0, "Saliency: forward and gradients")
        scores, g = input_gradients(ctx, ctx.x, classes)
        g = g[:, 0]
        if params["abs"]:
            g = g.abs()
        return MethodOutput(scores[0], reduce_channels(g, params["reduce"]), signed=not params["abs"])


@register("smooth-grad", "smoothgrad-saliency")
class SmoothGrad(Explainer):
    """SmoothGrad (Smilkov et al. 2017): saliency averaged over n copies of x + N(0, sigma^2),
    sigma = noise * (max(x) - min(x)) of the normalised input tensor. Noisy copies run through
    the network in batches as large as memory allows.

    Two conventions, named by ``aggregate`` (with ``abs`` on; the result's notes say which ran):
    ``abs_mean`` (default, the paper's): the signed gradients are averaged per input channel, then
    the absolute value is taken; ``mean_abs``: absolute gradients are averaged (Captum's
    ``NoiseTunnel(Saliency(abs=True))``). With ``abs`` off the map is the signed mean. Input
    channels are reduced last (``reduce``)."""

    name = "smoothgrad"
    label = "SmoothGrad"
    family = "gradient"
    summary = "mean over n noisy copies of the saliency (research: noise 0.1-0.2, n = 30-50)"
    params = (
        Param("noise", 0.1, float, "sigma as a fraction of the input range", minimum=0.0),
        Param("n", 50, int, "number of noisy copies", minimum=1),
        Param("seed", 0, int, "noise seed"),
        Param("batch_size", 0, int, "copies per forward (0: as many as fit in memory)", minimum=0),
        Param("abs", True, bool, "non-negative map (absolute values, see aggregate)"),
        Param("aggregate", "abs_mean", str, "abs_mean: |mean gradient| (Smilkov et al.); mean_abs: mean |gradient| "
              "(Captum)", SMOOTHGRAD_AGGREGATES),
        Param("reduce", "max", str, "how input channels are combined", REDUCTIONS),
    )

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        n = params["n"]
        sigma = float(params["noise"]) * float(ctx.x.max() - ctx.x.min())
        chunk = params["batch_size"] or auto_batch_size(ctx, n, with_grad=True)
        noise = gaussian_noise(n, ctx.x.shape[1:], sigma, params["seed"])
        batches = noise.split(chunk)
        mean_abs = bool(params["abs"]) and params["aggregate"] == "mean_abs"
        acc = smoothgrad_sum(ctx, classes, batches, absolute=mean_abs, total=n, label=self.label)
        mean = acc / n
        if params["abs"] and not mean_abs:
            mean = mean.abs()
        with torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
        ctx.step(1.0, "SmoothGrad: done")
        out = MethodOutput(logits, reduce_channels(mean, params["reduce"]), signed=not params["abs"])
        out.notes.append(f"sigma = {params['noise']} x input range = {sigma:.4g}; n = {n}; batch {chunk}")
        out.notes.append(smoothgrad_convention(bool(params["abs"]), str(params["aggregate"])))
        return out


def smoothgrad_convention(absolute: bool, aggregate: str) -> str:
    """The note naming which SmoothGrad aggregation produced a map."""
    if not absolute:
        return "SmoothGrad aggregate: signed mean of the gradients (abs off; aggregate does not apply)"
    if aggregate == "mean_abs":
        return ("SmoothGrad aggregate 'mean_abs': mean of absolute gradients (Captum's NoiseTunnel over "
                "Saliency(abs=True)); Smilkov et al.'s default is 'abs_mean'")
    return ("SmoothGrad aggregate 'abs_mean': absolute value of the mean signed gradient (Smilkov et al. 2017, "
            "the paper's default)")


@register("ig", "integrated-gradients")
class IntegratedGradients(Explainer):
    """Integrated Gradients (Sundararajan et al.) along the straight path from a baseline.

    attribution = (x - x') * mean over the m trapezoid nodes of dy^c/dx at x' + a (x - x');
    summed over input channels, signed. Baselines: ``black`` (pixel value 0 before
    normalisation) or ``mean`` (the image's mean pixel value).

    Completeness (the paper's axiom: attributions sum to ``f(x) - f(x')``) holds only up to the
    path discretisation, so every result reports it per explained class in
    ``diagnostics["completeness"]`` (see :func:`completeness_rows`) and adds a warning note when
    the relative gap exceeds :data:`IG_COMPLETENESS_TOLERANCE` (more ``steps`` close it).
    """

    name = "integrated_gradients"
    label = "Integrated Gradients"
    family = "gradient"
    summary = "(x - x') * path-averaged gradient; black or mean baseline"
    params = (
        Param("steps", 50, int, "path steps m", minimum=2),
        Param("baseline", "black", str, "baseline image", ("black", "mean")),
        Param("batch_size", 0, int, "path points per forward (0: as many as fit)", minimum=0),
    )

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        base = baseline_for(ctx, params["baseline"])
        m = params["steps"]
        alphas = torch.linspace(0.0, 1.0, m, device=ctx.x.device)
        weights = torch.full((m,), 1.0 / (m - 1), device=ctx.x.device)
        weights[0] = weights[-1] = 0.5 / (m - 1)  # trapezoid rule on [0, 1]
        chunk = params["batch_size"] or auto_batch_size(ctx, m, with_grad=True)
        acc = torch.zeros((len(classes), *ctx.x.shape[1:]), device=ctx.x.device)
        for start in range(0, m, chunk):
            ctx.step(start / m, f"Integrated Gradients: steps {start + 1}-{min(start + chunk, m)} of {m}")
            a = alphas[start:start + chunk]
            xs = base + a[:, None, None, None] * (ctx.x - base)
            _, g = input_gradients(ctx, xs, classes)
            acc += (g * weights[start:start + chunk][None, :, None, None, None]).sum(dim=1)
        with torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
            base_logits = logits_of(ctx.module(base[:1].contiguous()))[0].float()
        attributions = acc * (ctx.x - base)
        ctx.step(1.0, "Integrated Gradients: done")
        totals = attributions.sum(dim=(1, 2, 3)).double().cpu()
        expected = (logits - base_logits).double().cpu()[list(classes)]
        rows = completeness_rows(classes, totals.tolist(), expected.tolist())
        notes = [f"baseline {params['baseline']}, {m} trapezoid steps"]
        notes += completeness_notes(rows, IG_COMPLETENESS_TOLERANCE)
        return MethodOutput(logits, attributions.sum(dim=1), signed=True, notes=notes,
                            diagnostics={"completeness": rows, "completeness_tolerance": IG_COMPLETENESS_TOLERANCE})


def completeness_rows(
    classes: Sequence[int], totals: Sequence[float], expected: Sequence[float]
) -> list[dict[str, Any]]:
    """Per class the completeness check of Integrated Gradients, as Captum's convergence delta.

    Args:
        classes: Model class indices, in the order of the maps.
        totals: Sum of each class's attributions over every input pixel and channel.
        expected: ``f_c(x) - f_c(x')`` per class (the explained score at the input and the baseline).

    Returns:
        One dict per class: ``class_index``, ``attribution_sum``, ``expected`` (``f(x) - f(x')``),
        ``gap`` (``attribution_sum - expected``, Captum's ``return_convergence_delta``) and
        ``relative_gap`` (``|gap| / |expected|``; None when ``expected`` is 0 and the gap is not,
        0 when both are).
    """
    rows = []
    for c, total, exp in zip(classes, totals, expected, strict=True):
        gap = float(total) - float(exp)
        rel: float | None
        if exp != 0:
            rel = abs(gap) / abs(float(exp))
        else:
            rel = 0.0 if gap == 0 else None
        rows.append({"class_index": int(c), "attribution_sum": float(total), "expected": float(exp),
                     "gap": gap, "relative_gap": rel})
    return rows


def completeness_notes(rows: Sequence[Mapping[str, Any]], tolerance: float) -> list[str]:
    """The notes stating the completeness gap, with a warning per class above ``tolerance``."""
    rels = [r["relative_gap"] for r in rows]
    worst = math.inf if any(v is None for v in rels) else max((float(v) for v in rels), default=0.0)
    notes = [f"completeness (sum of attributions vs f(x) - f(baseline)): largest relative gap {worst:.2%}, "
             f"tolerance {tolerance:.0%}"]
    for r in rows:
        rel = r["relative_gap"]
        if rel is None or float(rel) > tolerance:
            share = "undefined, f(x) = f(baseline)" if rel is None else f"{float(rel):.1%} > {tolerance:.0%}"
            notes.append(f"WARNING: class {r['class_index']}: attributions sum to {r['attribution_sum']:.4g} but "
                         f"f(x) - f(baseline) = {r['expected']:.4g} (gap {r['gap']:.4g}, {share}); increase steps")
    return notes


def baseline_for(ctx: Context, kind: str) -> torch.Tensor:
    """The baseline in normalised input space (uses the mean/std stored on the context)."""
    mean = ctx.norm_mean if ctx.norm_mean is not None else torch.zeros(ctx.x.shape[1])
    std = ctx.norm_std if ctx.norm_std is not None else torch.ones(ctx.x.shape[1])
    mean = mean.to(ctx.x.device)[None, :, None, None]
    std = std.to(ctx.x.device)[None, :, None, None]
    if kind == "black":
        return ((0.0 - mean) / std).expand_as(ctx.x)
    pixels = ctx.x * std + mean
    level = pixels.mean()
    return ((level - mean) / std).expand_as(ctx.x)
