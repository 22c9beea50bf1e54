"""Gradient x input: the signed first-order attribution of a score to each input pixel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.explainers.base import Context, Explainer, MethodOutput, register
from engine.explainers.gradients import baseline_for, input_gradients


@register("gradient-x-input", "gradxinput", "input-x-gradient")
class GradientXInput(Explainer):
    """``dy^c/dx * (x - x_black)`` summed over input channels, signed.

    The input is measured from the black image (pixel value 0 before normalisation), the
    baseline Integrated Gradients uses by default, so the map is the one-step (m = 1) version
    of IG: for a model linear in the pixels its sum is exactly ``y(x) - y(black)``. Positive
    values raise the score, negative values lower it (see :mod:`engine.explainers.direction`).
    """

    name = "gradient_x_input"
    label = "Gradient x input"
    family = "gradient"
    summary = "dy^c/dx * (x - black), signed; sums to y(x) - y(black) for a linear model"
    params = ()

    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        ctx.step(0.0, f"{self.label}: forward and gradients")
        scores, g = input_gradients(ctx, ctx.x, classes)
        attributions = (g[:, 0] * (ctx.x - baseline_for(ctx, "black"))[0][None]).sum(dim=1)
        ctx.step(1.0, f"{self.label}: done")
        return MethodOutput(scores[0], attributions, signed=True,
                            notes=["gradient x (input - black image), summed over input channels"])
