"""Attention rollout (Abnar & Zuidema 2020) and gradient-weighted rollout (Chefer et al. 2021) for ViTs.

Both read every block's attention probabilities ``A_l`` (``(heads, N, N)``, rows attend to
columns, tokens ``N = prefix + h*w``):

* ``rollout``: ``Ã_l = (fuse_heads(A_l) + I) / 2``, rows renormalised to sum 1 (the residual
  connection), ``R = Ã_L ... Ã_1``. Class-agnostic: every class gets the same map.
* ``gradrollout``: the transformer-attribution rule of Chefer, Gur & Wolf, "Generic
  Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers"
  (ICCV 2021): ``Ā_l = mean_heads(relu(∇A_l ⊙ A_l))`` with ``∇A_l = d y_c / d A_l`` (the class
  score, as the CAM methods use), ``R ← R + Ā_l R`` from ``R = I``, block 1 first.

The map is the row of the token the head reads (the class token; DeiT's class and distillation
tokens averaged; the mean of the patch rows for average-pooled models without a class token),
restricted to the patch columns and reshaped to the patch grid.

timm computes attention with a fused kernel that never forms ``A``; while capturing, each
attention module's ``fused_attn`` is switched off (the explicit path computes the same function)
and the output of its ``attn_drop`` (the probabilities ``A`` multiplying ``V``, identity in eval
mode) is hooked. torchvision's ``nn.MultiheadAttention`` is asked for its per-head weights
(``need_weights=True, average_attn_weights=False``); it returns them outside the autograd path,
so ``gradrollout`` needs timm attention modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import torch
from torch import nn

from engine.errors import ExplainError
from engine.explainers.base import Context, Explainer, MethodOutput, Param, register
from engine.explainers.hooks import class_vjp, logits_of
from engine.explainers.tokens import num_prefix_tokens, patch_grid, patch_size
from engine.sampling import GridAlignment


def _timm_attention(m: nn.Module) -> bool:
    return hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Module) and hasattr(m, "num_heads")


class AttentionCapture:
    """Capture each block's attention probabilities ``(B, heads, N, N)`` during a forward, in order.

    Args:
        module: A ViT (timm ``VisionTransformer``/DeiT/BEiT/Eva, or torchvision ``VisionTransformer``).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.timm = [m for m in module.modules() if _timm_attention(m)]
        self.torch_mha = [m for m in module.modules() if isinstance(m, nn.MultiheadAttention)]
        if not self.timm and not self.torch_mha:
            raise ExplainError(
                f"{type(module).__name__} has no self-attention modules that attention rollout can read.",
                fix="use a ViT (timm ViT/DeiT/BEiT or torchvision vit_*), or a CAM method.",
            )
        self.maps: list[torch.Tensor] = []
        self.differentiable = bool(self.timm)
        self._handles: list[Any] = []
        self._fused: list[tuple[nn.Module, Any]] = []

    def __enter__(self) -> AttentionCapture:
        def grab(_m: nn.Module, _i: Any, out: Any) -> None:
            self.maps.append(out)

        def grab_mha(_m: nn.Module, _i: Any, out: Any) -> None:
            self.maps.append(out[1])

        def ask_weights(_m: nn.Module, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

        try:
            for m in self.timm:
                self._fused.append((m, m.fused_attn))
                setattr(m, "fused_attn", False)  # noqa: B010 - a Final-annotated attribute in timm
                drop = m.attn_drop
                assert isinstance(drop, nn.Module)
                self._handles.append(drop.register_forward_hook(grab))
            if not self.timm:
                for m in self.torch_mha:
                    self._handles.append(m.register_forward_pre_hook(ask_weights, with_kwargs=True))
                    self._handles.append(m.register_forward_hook(grab_mha))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for m, flag in self._fused:
            setattr(m, "fused_attn", flag)  # noqa: B010
        self._fused.clear()


def read_rows(module: nn.Module, prefix: int) -> list[int] | None:
    """Token rows the classifier head reads: [0] (class token), [0, 1] (DeiT distilled); None: patch mean."""
    pool = getattr(module, "global_pool", "token")
    if hasattr(module, "class_token") and hasattr(module, "conv_proj"):
        return [0]  # torchvision ViT
    if getattr(module, "cls_token", None) is None or pool not in ("token", "", None) or prefix == 0:
        return None
    return [0, 1] if getattr(module, "dist_token", None) is not None else [0]


def token_map(r: torch.Tensor, rows: list[int] | None, prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """``(..., N, N)`` relevance -> ``(..., h, w)``: the read rows, patch columns, on the grid."""
    if rows is None:
        picked = r[..., prefix:, prefix:].mean(-2)
    else:
        picked = r[..., rows, prefix:].mean(-2)
    return picked.reshape(*picked.shape[:-1], *grid)


def _layout(ctx: Context, n_tokens: int) -> tuple[int, tuple[int, int], GridAlignment]:
    size = (int(ctx.x.shape[-2]), int(ctx.x.shape[-1]))
    grid = patch_grid(ctx.module, size)
    p = patch_size(ctx.module)
    known = num_prefix_tokens(ctx.module)
    if grid is None or p is None:
        raise ExplainError("attention rollout needs a ViT with a patch embedding (timm or torchvision).")
    prefix = n_tokens - grid[0] * grid[1]
    if prefix < 0 or (known is not None and prefix != known):
        raise ExplainError(
            f"the attention maps cover {n_tokens} tokens, not the {grid[0]}x{grid[1]} patch grid plus prefix "
            "tokens: attention rollout needs global self-attention over all tokens (plain ViTs, not Swin).",
            fix="use a CAM method for this model.",
        )
    align = GridAlignment(float(p[0]), (p[0] - 1) / 2, float(p[1]), (p[1] - 1) / 2, grid, "receptive_field")
    return prefix, grid, align


def _check_maps(maps: list[torch.Tensor]) -> None:
    if not maps or any(a.ndim != 4 or a.shape[-1] != a.shape[-2] for a in maps):
        raise ExplainError("no per-head attention probabilities were captured (expected (B, heads, N, N)).")
    if len({tuple(a.shape[-2:]) for a in maps}) != 1:
        raise ExplainError("attention maps of different token counts: attention rollout needs a plain ViT.")


FUSE_HEADS = ("mean", "max", "min")


@register("attention-rollout", "attn-rollout")
class AttentionRollout(Explainer):
    name = "rollout"
    label = "Attention rollout"
    family = "attention"
    summary = "R = prod_l (fuse_heads(A_l) + I)/2, rows renormalised; class token's row (Abnar & Zuidema)"
    convention = ("attention rollout (Abnar & Zuidema 2020): heads fused, identity added for the residual, rows "
                  "renormalised, layers multiplied; class-agnostic (every class gets the same map)")
    params = (Param("head_fusion", "mean", str, "how the heads of a layer are fused", FUSE_HEADS),)

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        ctx.step(0.0, f"{self.label}: forward")
        with AttentionCapture(ctx.module) as cap, torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
        _check_maps(cap.maps)
        n = cap.maps[0].shape[-1]
        prefix, grid, align = _layout(ctx, n)
        eye = torch.eye(n, device=ctx.x.device)
        r = eye
        for a in cap.maps:
            a0 = a[0].float()
            fused = a0.mean(0) if params["head_fusion"] == "mean" else (
                a0.amax(0) if params["head_fusion"] == "max" else a0.amin(0))
            step = (fused + eye) / 2
            step = step / step.sum(-1, keepdim=True)
            r = step @ r
        m = token_map(r, read_rows(ctx.module, prefix), prefix, grid)
        ctx.alignments = {"attention": align}
        ctx.step(1.0, f"{self.label}: done")
        return MethodOutput(logits, m[None].expand(len(classes), *grid).clone(),
                            notes=[f"{len(cap.maps)} attention layers; {prefix} prefix token(s) dropped"])


@register("grad-rollout", "chefer", "transformer-attribution")
class GradRollout(Explainer):
    name = "gradrollout"
    label = "Gradient-weighted attention rollout"
    family = "attention"
    summary = "Ā_l = mean_h relu(dy/dA_l * A_l); R <- R + Ā_l R (Chefer et al. 2021); all classes in one backward"
    convention = ("gradient-weighted rollout as Chefer et al. 2021 (transformer attribution): "
                  "Ā = mean_heads(relu(∇A ⊙ A)), R ← R + Ā·R from R = I, gradients of the class score")
    params = ()

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        ctx.step(0.0, f"{self.label}: forward and gradients")
        x = ctx.x.detach().clone().requires_grad_(True)  # records the whole graph through every A_l
        with AttentionCapture(ctx.module) as cap, torch.enable_grad(), ctx.amp():
            if not cap.differentiable:
                raise ExplainError(
                    "torchvision's MultiheadAttention returns its weights outside the autograd graph, so "
                    "gradient-weighted rollout cannot differentiate them.",
                    fix="build the model as 'timm:vit_...' (same weights layout after conversion), or use rollout.",
                )
            scores = logits_of(ctx.module(x))
        _check_maps(cap.maps)
        grads = class_vjp(scores, cap.maps, classes)  # per layer (K, B, heads, N, N)
        n = cap.maps[0].shape[-1]
        prefix, grid, align = _layout(ctx, n)
        r = torch.eye(n, device=ctx.x.device).expand(len(classes), n, n).clone()
        for a, g in zip(cap.maps, grads, strict=True):
            bar = torch.relu(g[:, 0].float() * a[0].detach().float()[None]).mean(1)  # (K, N, N)
            r = r + bar @ r
        m = token_map(r, read_rows(ctx.module, prefix), prefix, grid)
        ctx.alignments = {"attention": align}
        ctx.step(1.0, f"{self.label}: done")
        return MethodOutput(scores[0].detach().float(), m,
                            notes=[f"{len(cap.maps)} attention layers; {prefix} prefix token(s) dropped"])
