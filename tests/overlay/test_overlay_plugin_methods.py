"""Explanation methods contributed by plugins (``Explainer``) appear in the panel and run there."""

from __future__ import annotations

import torch
from overlay_helpers import explained, open_demo

from engine.explainers import base
from engine.explainers.base import Explainer, MethodOutput, Param


class Ramp(Explainer):
    """A plugin's method: a left-to-right ramp for every class (so its boxes are known)."""

    name = "ramp"
    label = "Ramp (plugin)"
    family = "gradient"
    summary = "test method contributed by a plugin"
    params = (Param("power", 2.0, float, "exponent of the ramp", minimum=0.5, maximum=4.0),)

    def run(self, ctx, classes, layers, params):
        with torch.no_grad():
            logits = ctx.module(ctx.x)[0]
        h, w = ctx.x.shape[-2:]
        ramp = torch.linspace(0.0, 1.0, w) ** params["power"]
        return MethodOutput(logits, ramp.expand(len(classes), h, w).clone())


def test_a_plugin_method_is_registered_before_the_list_is_built_and_runs(qtbot, host, default_model,
                                                                          make_panel, monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # leave the registry as it was
    monkeypatch.setattr(base, "_ALIASES", dict(base._ALIASES))
    calls = []

    def register_explainers():  # what viewer.plugin_host.PluginHost.register_explainers does for a plugin
        calls.append("registered")
        base.register()(Ramp)

    host.register_explainers = register_explainers
    host.state.update(model=default_model)
    open_demo(host, "phantom_00002")
    panel = make_panel()
    assert calls == ["registered"]
    chooser = panel.method_chooser
    index = chooser.method.findData("ramp")
    assert index >= 0, "the plugin's method is not offered"
    chooser.method.setCurrentIndex(index)
    assert chooser.params() == {"power": 2.0}  # its declared default
    assert not chooser.layers.isEnabled()  # not a CAM method: no layers to choose
    result = explained(qtbot, panel)
    assert result.method == "ramp"
    name = host.state.selected_class
    qtbot.waitUntil(lambda: host.state.localisation is not None, timeout=10000)
    # the top 5 % of a left-to-right ramp is a strip at the right edge of the image
    (x0, y0, x1, y1), = host.state.localisation.boxes
    height, width = host.state.image.shape
    assert x1 == width and x0 >= 0.9 * width and (y0, y1) == (0, height) and name in result.explained
    comparison = panel.open_comparison()
    assert comparison.sides["left"].method.findData("ramp") >= 0
    comparison.close()
