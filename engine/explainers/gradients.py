"""Methods on the gradient of a class score with respect to the input pixels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from engine.explainers.base import Context, Explainer, MethodOutput, Param, auto_batch_size, register
from engine.explainers.hooks import logits_of

REDUCTIONS = ("max", "sum", "mean")


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
    """SmoothGrad (Smilkov et al.): mean over n of saliency(x + N(0, sigma^2)),
    sigma = noise * (max(x) - min(x)) of the normalised input tensor. Noisy copies run through
    the network in batches as large as memory allows; the absolute gradient is averaged per
    input channel, then channels are reduced."""

    name = "smoothgrad"
    label = "SmoothGrad"
    family = "gradient"
    summary = "mean over n noisy copies of the saliency (research: noise 0.1-0.2, n = 30-50)"
    params = (
        Param("noise", 0.1, float, "sigma as a fraction of the input range", minimum=0.0),
        Param("n", 50, int, "number of noisy copies", minimum=1),
        Param("seed", 0, int, "noise seed"),
        Param("batch_size", 0, int, "copies per forward (0: as many as fit in memory)", minimum=0),
        Param("abs", True, bool, "average absolute gradients"),
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
        acc = smoothgrad_sum(ctx, classes, batches, absolute=params["abs"], total=n, label=self.label)
        with torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
        ctx.step(1.0, "SmoothGrad: done")
        out = MethodOutput(logits, reduce_channels(acc / n, params["reduce"]), signed=not params["abs"])
        out.notes.append(f"sigma = {params['noise']} x input range = {sigma:.4g}; n = {n}; batch {chunk}")
        return out


@register("ig", "integrated-gradients")
class IntegratedGradients(Explainer):
    """Integrated Gradients (Sundararajan et al.) along the straight path from a baseline.

    attribution = (x - x') * mean over the m trapezoid nodes of dy^c/dx at x' + a (x - x');
    summed over input channels, signed. Baselines: ``black`` (pixel value 0 before
    normalisation) or ``mean`` (the image's mean pixel value).
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
        attributions = acc * (ctx.x - base)
        ctx.step(1.0, "Integrated Gradients: done")
        return MethodOutput(logits, attributions.sum(dim=1), signed=True,
                            notes=[f"baseline {params['baseline']}, {m} trapezoid steps"])


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
