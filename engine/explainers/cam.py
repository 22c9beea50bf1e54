"""The CAM family: one forward of the trunk, one VJP per class through the head, all classes.

Notation: A^k is activation map k of the target layer (h x w), g = dy^c/dA^k where y^c is the
class score (the logit of a multi-label head, the pre-softmax score of a multi-class head).
Each method adds only its channel weighting (or, LayerCAM, its element-wise weighting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from engine.errors import UnknownLayerError
from engine.explainers.alignment import regrid
from engine.explainers.base import Context, Explainer, MethodOutput, Param, auto_batch_size, register
from engine.explainers.gradients import gaussian_noise
from engine.explainers.hooks import LayerTap, class_vjp, logits_of
from engine.explainers.tokens import TokenLayout, layout_of

FUSIONS = ("mean", "max", "layercam")


def layer_gradients(
    ctx: Context, x: torch.Tensor, layers: Sequence[str], classes: Sequence[int]
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Scores ``(B, C)``, activations ``[(B, K, h, w)]`` and gradients ``[(len(classes), B, K, h, w)]``.

    Autograd records only what follows the first tapped layer (see ``LayerTap``). Token and
    channels-last outputs (ViT, Swin) are differentiated as they are, then activations and
    gradients get the same reshape to ``(K, h, w)`` (:mod:`engine.explainers.tokens`).
    """
    with LayerTap(ctx.module, layers, cut=True) as tap, torch.enable_grad(), ctx.amp():
        scores = logits_of(ctx.module(x))
    raw = [tapped_output(ctx, tap.outputs, name, x) for name in layers]
    grads = class_vjp(scores, [r for r, _ in raw], classes)
    acts = [lay.to_grid(r.detach().float()) for r, lay in raw]
    return scores.detach().float(), acts, [lay.to_grid(g.float()) for g, (_, lay) in zip(grads, raw, strict=True)]


def tapped_output(
    ctx: Context, outputs: Mapping[str, torch.Tensor], name: str, x: torch.Tensor
) -> tuple[torch.Tensor, TokenLayout]:
    """A tapped layer's raw output and its layout, or a clear error if it is no grid."""
    if name not in outputs:
        raise UnknownLayerError(f"layer '{name}' did not run in the forward pass.")
    a = outputs[name]
    lay = layout_of(ctx.module, tuple(a.shape[1:]), (int(x.shape[-2]), int(x.shape[-1])))
    if lay is None or a.shape[0] != x.shape[0]:
        raise UnknownLayerError(
            f"layer '{name}' has output shape {tuple(a.shape)}; CAM methods need a grid (N, C, H, W), "
            "a channels-last Swin stage (N, H, W, C) or ViT tokens (N, prefix + H*W, C).",
            fix="choose a layer listed by `radlens layers`.",
        )
    return a, lay


def fuse_layers(maps: list[torch.Tensor], how: str, alignments: list[Any] | None = None) -> torch.Tensor:
    """Fuse per-layer maps ``[(K, h_l, w_l)]`` at the finest grid.

    With ``alignments`` (one :class:`~engine.explainers.alignment.GridAlignment` per map) the
    coarser maps are sampled at the finest grid's receptive-field centres; without, resized.

    Each layer's map is first divided by its per-class maximum (maps are non-negative).
    ``mean``/``max`` then average or take the maximum; ``layercam`` applies tanh(2 * m) to each
    scaled map and takes the element-wise maximum (LayerCAM paper, Eq. 9).
    """
    finest = max(range(len(maps)), key=lambda i: maps[i].shape[-2] * maps[i].shape[-1])
    size = maps[finest].shape[-2:]
    scaled = []
    for i, m in enumerate(maps):
        peak = m.flatten(1).amax(1).clamp_min(torch.finfo(m.dtype).tiny)[:, None, None]
        s = m / peak
        if how == "layercam":
            s = torch.tanh(2.0 * s)
        if alignments is not None and i != finest:
            s = regrid(s, alignments[i], alignments[finest])
        elif tuple(s.shape[-2:]) != tuple(size):
            s = F.interpolate(s[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        scaled.append(s)
    stack = torch.stack(scaled)
    return stack.mean(0) if how == "mean" else stack.amax(0)


class GradientCAM(Explainer):
    """Shared core of Grad-CAM-like methods: subclasses define ``weights`` or ``combine``."""

    family = "cam"
    default_fusion = "mean"
    #: Each layer's map comes from its own activations and gradients only, so several layers can be
    #: explained in one run and split (:func:`engine.explainers.api.explain_layers`).
    independent_layers: ClassVar[bool] = True

    @classmethod
    def _params(cls) -> tuple[Param, ...]:
        return (
            Param("fusion", cls.default_fusion, str, "how several layers are fused", FUSIONS),
        )

    def weights(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Channel weights ``(N, K)`` from activations ``(K, h, w)`` and gradients ``(N, K, h, w)``."""
        raise NotImplementedError

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, h, w)`` = ReLU(sum_k w_k A^k)."""
        return torch.relu(torch.einsum("nk,khw->nhw", self.weights(a, g), a))

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        ctx.step(0.0, f"{self.label}: forward and gradients")
        scores, acts, grads = layer_gradients(ctx, ctx.x, layers, classes)
        per_layer = {name: self.combine(a[0], g[:, 0]) for name, a, g in zip(layers, acts, grads, strict=True)}
        ctx.step(1.0, f"{self.label}: done")
        return _output(scores[0], per_layer, params.get("fusion", "mean"), ctx.alignments)


def _output(
    logits: torch.Tensor, per_layer: dict[str, torch.Tensor], fusion: str, alignments: Mapping[str, Any] | None = None
) -> MethodOutput:
    if len(per_layer) == 1:
        return MethodOutput(logits, next(iter(per_layer.values())))
    aligned = [alignments[name] for name in per_layer] if alignments else None
    fused = fuse_layers(list(per_layer.values()), fusion, aligned)
    note = f"{len(per_layer)} layers fused by '{fusion}' after scaling each layer's map by its maximum"
    return MethodOutput(logits, fused, layer_maps=per_layer, notes=[note])


@register("grad-cam")
class GradCAM(GradientCAM):
    name = "gradcam"
    label = "Grad-CAM"
    summary = "w_k = mean_ij g_ij; L = ReLU(sum_k w_k A^k) (Selvaraju et al.)"
    params = GradientCAM._params()

    def weights(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return g.mean(dim=(-2, -1))


@register("gradcam++", "grad-cam++", "gradcampp")
class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++ with the paper's closed form (Chattopadhyay et al., Eq. 19).

    alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3), alpha = 0 where the denominator is 0;
    w_k = sum_ij alpha_ij ReLU(g_ij). The closed form assumes the explained score is exp(S) and
    S is the class score (logit for multi-label heads, pre-softmax score for multi-class); the
    common factor exp(S) cancels in alpha and only scales w, so it is left out. For heads that
    are not linear after the layer, the second and third derivatives of S are neglected, as in
    the paper. No epsilon is added to the denominator (an epsilon of 1e-6, as in some public
    code, dominates it for typical gradient sizes and silently turns alpha into ~g^2/eps).
    """

    name = "gradcampp"
    label = "Grad-CAM++"
    summary = "Eq. 19 closed form; w_k = sum alpha ReLU(g)"
    #: Stated in every result's notes (issue #14: conventions that differ from the peers are named).
    convention = ("Grad-CAM++ as Chattopadhyay et al. Eq. 19, exactly: no epsilon in the alpha denominator "
                  "(pytorch-grad-cam adds 1e-6, torchcam 1e-8), alpha = 0 where it vanishes")
    params = GradientCAM._params()

    def weights(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        # alpha * ReLU(g) = g^2 / (g^2 (2 + S g)) * g = g / (2 + S g) where g > 0, and 0 where
        # g <= 0 (ReLU) or the denominator vanishes: the same value with three temporaries
        # instead of a dozen full-size ones.
        pos = g.clamp_min(0.0)
        denom = pos * a.sum(dim=(-2, -1))[None, :, None, None] + 2.0
        ok = (pos > 0) & (denom != 0)
        return torch.where(ok, pos / torch.where(ok, denom, torch.ones_like(denom)), 0.0).sum(dim=(-2, -1))


@register("xgrad-cam")
class XGradCAM(GradientCAM):
    name = "xgradcam"
    label = "XGrad-CAM"
    summary = "w_k = sum_ij (A_ij / sum_ab A_ab) g_ij (Fu et al.)"
    params = GradientCAM._params()

    def weights(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        total = a.sum(dim=(-2, -1))
        safe = torch.where(total != 0, total, torch.ones_like(total))
        norm = torch.where(total[:, None, None] != 0, a / safe[:, None, None], torch.zeros_like(a))
        return (norm[None] * g).sum(dim=(-2, -1))


@register("layer-cam")
class LayerCAM(GradientCAM):
    name = "layercam"
    label = "LayerCAM"
    summary = "L = ReLU(sum_k ReLU(g) * A^k); layers fused by max after tanh(2 m) (Jiang et al.)"
    default_fusion = "layercam"
    params = (Param("fusion", "layercam", str, "how several layers are fused", FUSIONS),)

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.relu((torch.relu(g) * a[None]).sum(dim=1))


BASES: dict[str, type[GradientCAM]] = {
    "gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "xgradcam": XGradCAM, "layercam": LayerCAM,
}


@register("smoothgrad-cam", "smooth-gradcam", "smoothgradcam")
class SmoothGradCAM(Explainer):
    """SmoothGrad applied to a CAM: Gaussian noise on the input, the CAM of each noisy copy,
    maps averaged. sigma = noise * (max(x) - min(x)) of the normalised input tensor."""

    name = "smoothgrad-cam"
    label = "SmoothGrad on Grad-CAM"
    family = "cam"
    summary = "mean over n noisy copies of the base CAM (research: noise 0.1 and 0.2, n = 50)"
    params = (
        Param("base", "gradcam", str, "the CAM applied to each noisy copy", tuple(BASES)),
        Param("noise", 0.1, float, "sigma as a fraction of the input range", minimum=0.0),
        Param("n", 50, int, "number of noisy copies", minimum=1),
        Param("seed", 0, int, "noise seed"),
        Param("batch_size", 0, int, "copies per forward (0: as many as fit in memory)", minimum=0),
        Param("fusion", "mean", str, "how several layers are fused", FUSIONS),
    )

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        base = BASES[params["base"]]()
        n = params["n"]
        sigma = float(params["noise"]) * float(ctx.x.max() - ctx.x.min())
        chunk = params["batch_size"] or auto_batch_size(ctx, n, with_grad=False)
        sums: dict[str, torch.Tensor] = {}
        done = 0
        for noise in gaussian_noise(n, ctx.x.shape[1:], sigma, params["seed"]).split(chunk):
            b = noise.shape[0]
            ctx.step(done / n, f"{self.label}: copies {done + 1}-{done + b} of {n}")
            xb = ctx.x + noise.to(ctx.x.device)
            _, acts, grads = layer_gradients(ctx, xb, layers, classes)
            for name, a, g in zip(layers, acts, grads, strict=True):
                maps = torch.stack([base.combine(a[i], g[:, i]) for i in range(b)], dim=1).sum(1)
                sums[name] = sums[name] + maps if name in sums else maps
            done += b
        with torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
        per_layer = {name: s / n for name, s in sums.items()}
        out = _output(logits, per_layer, params["fusion"], ctx.alignments)
        out.notes.append(f"sigma = {params['noise']} x input range = {sigma:.4g}; n = {n}; base = {base.label}")
        ctx.step(1.0, f"{self.label}: done")
        return out
