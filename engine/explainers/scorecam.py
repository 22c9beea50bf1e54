"""Score-CAM: channel masks scored by forward passes; every masked forward serves all classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from engine.explainers.base import Context, Explainer, MethodOutput, Param, auto_batch_size, register
from engine.explainers.cam import FUSIONS, _output, tapped_output
from engine.explainers.hooks import LayerTap, logits_of


@register("score-cam")
class ScoreCAM(Explainer):
    """Score-CAM (Wang et al. 2020).

    Each activation channel is upsampled to the input size (bilinear), min-max normalised to
    [0, 1], and multiplies the (normalised) input. The masked inputs run through the network in
    batches; the score of class c under mask k is ``s_kc`` (the logit by default). Weights are
    ``softmax_k(s_kc)`` and ``L_c = ReLU(sum_k w_kc A^k)``. A masked forward yields all classes'
    scores at once, so the cost does not grow with the number of classes.
    """

    name = "scorecam"
    label = "Score-CAM"
    family = "cam"
    summary = "softmax over channels of masked-input scores; all classes per masked forward"
    #: Each layer's masks and scores are its own (see :func:`engine.explainers.api.explain_layers`).
    independent_layers: ClassVar[bool] = True
    #: The masked forwards need only the scores: they run on the gradient-free copy (about twice
    #: as fast on the CPU; scores within 1e-4 of the original's, relative to their scale).
    forward_copy: ClassVar[bool] = True
    params = (
        Param("batch_size", 0, int, "masked inputs per forward (0: as many as fit)", minimum=0),
        Param("score", "logit", str, "class score of a masked input", ("logit", "probability")),
        Param("align_corners", False, bool, "mask upsampling convention (True matches pytorch-grad-cam)"),
        Param("fusion", "mean", str, "how several layers are fused", FUSIONS),
    )

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        with LayerTap(ctx.module, layers) as tap, torch.no_grad(), ctx.amp():
            logits = logits_of(ctx.module(ctx.x))[0].float()
        cls_idx = torch.as_tensor(list(classes), device=ctx.x.device)
        per_layer: dict[str, torch.Tensor] = {}
        grids = {}
        for name in layers:
            raw, lay = tapped_output(ctx, tap.outputs, name, ctx.x)
            grids[name] = lay.to_grid(raw)[0].float()  # (K, h, w); tokens and Swin stages reshaped
        net = ctx.forward_module if ctx.forward_module is not None else ctx.module
        total = sum(g.shape[0] for g in grids.values())
        done = 0
        for name in layers:
            a = grids[name]
            masks = F.interpolate(a[None], size=ctx.x.shape[-2:], mode="bilinear",
                                  align_corners=bool(params["align_corners"]))[0]
            flat = masks.flatten(1)
            lo, hi = flat.min(1).values, flat.max(1).values
            masks = (masks - lo[:, None, None]) / (hi - lo + 1e-8)[:, None, None]
            k = masks.shape[0]
            chunk = params["batch_size"] or auto_batch_size(ctx, k, with_grad=False)
            scores = torch.empty((k, logits.shape[0]), device=ctx.x.device)
            for start in range(0, k, chunk):
                ctx.step(done / total, f"{self.label}: masks {start + 1}-{min(start + chunk, k)} of {k} ({name})")
                m = masks[start:start + chunk]
                with torch.no_grad(), ctx.amp():
                    out = logits_of(net(ctx.x * m[:, None]))
                scores[start:start + m.shape[0]] = out.float()
                done += m.shape[0]
            if params["score"] == "probability":
                multilabel = ctx.task == "multilabel"
                scores = torch.sigmoid(scores) if multilabel else torch.softmax(scores, dim=1)
            w = torch.softmax(scores[:, cls_idx], dim=0).T  # (N, K)
            per_layer[name] = torch.relu(torch.einsum("nk,khw->nhw", w, a))
        ctx.step(1.0, f"{self.label}: done")
        return _output(logits, per_layer, params["fusion"], ctx.alignments)

