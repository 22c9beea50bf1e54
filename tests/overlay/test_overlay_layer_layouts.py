"""The layer chooser shows each layer's token layout, as ``radlens layers`` prints it (issue #16).

Known answers: a timm ViT at 32 x 48 with 8-px patches has a 4 x 6 patch grid and one class token
(25 tokens); a Swin stage at 32 x 64 with 4-px patches and one patch merging is a channels-last
4 x 8 grid. The panel's lines and tooltips are compared with those numbers and with the CLI's rows.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import torch
from overlay_helpers import open_demo
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest


def _model(net: torch.nn.Module, arch: str, size: tuple[int, int]) -> LoadedModel:
    manifest = ModelManifest(name="t", version="0", architecture=arch, class_names=("a", "b", "c"), in_channels=3,
                             input_size=size, mean=(0.5,) * 3, std=(0.25,) * 3)
    return LoadedModel.from_module(net.eval(), manifest)


@pytest.fixture(scope="module")
def vit() -> LoadedModel:
    torch.manual_seed(3)
    net = VisionTransformer(img_size=(32, 48), patch_size=8, num_classes=3, embed_dim=32, depth=2, num_heads=2)
    return _model(net, "timm:vit", (32, 48))


def _lines(panel: Any) -> dict[str, tuple[str, str]]:
    """layer name -> (line, tooltip) as the chooser shows them."""
    from plugins.explain_overlay.method_chooser import _ROLE

    layers = panel.method_chooser.layers
    return {layers.item(r).data(_ROLE): (layers.item(r).text(), layers.item(r).toolTip())
            for r in range(layers.count())}


def test_vit_layers_show_tokens_to_grid_with_the_class_token_dropped(qtbot, host, make_panel, vit, monkeypatch,
                                                                     capsys) -> None:
    host.state.update(model=vit)
    open_demo(host, "phantom_00002")
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.method_chooser.layers.count() > 0, timeout=10000)
    lines = _lines(panel)
    line, tip = lines["blocks.1.norm1"]
    assert line == "blocks.1.norm1 — tokens 1+24 → 4×6 grid (class token dropped)  (default)"
    assert tip.splitlines() == ["blocks.1.norm1  (the model's default CAM layer)", "LayerNorm, output 25×32",
                                "layout: tokens 1+24 → 4×6 grid (class token dropped)"]
    assert panel.method_chooser.selected_layers() == ["blocks.1.norm1"]
    assert lines["blocks.0.mlp.fc1"][0] == "blocks.0.mlp.fc1 — tokens 1+24 → 4×6 grid (class token dropped)"
    assert lines["patch_embed.proj"][0] == "patch_embed.proj — Conv2d 32×4×6"  # a CNN-like grid: type and shape
    # (heads, tokens, head_dim) inside attention is no image grid: not offered (it was, as a "25×16 grid")
    per_head = [n for n, _m in vit.module.named_modules() if n.endswith(("attn.q_norm", "attn.k_norm"))]
    assert per_head and not set(per_head) & set(lines)
    # the same layout as `radlens layers` prints for the same network
    import engine.models.bundle
    from engine.cli.layers import add_arguments, run

    monkeypatch.setattr(engine.models.bundle, "load_model", lambda *_a, **_k: vit)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--model", "vit-bundle", "--device", "cpu"])) == 0
    rows = {r.split()[0]: r for r in capsys.readouterr().out.splitlines()[2:] if r.strip()}
    assert set(rows) == set(lines)
    for name, (line, _tip) in lines.items():
        layout = line.split(" — ", 1)[1].removesuffix("  (default)")
        if "→" in layout:
            assert layout in rows[name]


def test_swin_stage_output_shows_its_channels_last_grid(qtbot, host, make_panel) -> None:
    torch.manual_seed(6)
    net = SwinTransformer(img_size=(32, 64), patch_size=4, window_size=4, embed_dim=16, depths=(2, 2),
                          num_heads=(2, 2), num_classes=3)
    host.state.update(model=_model(net, "timm:swin", (32, 64)))
    open_demo(host, "phantom_00002")
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.method_chooser.layers.count() > 0, timeout=10000)
    lines = _lines(panel)
    assert lines["layers.1"][0] == "layers.1 — channels-last 4×8×32 → 4×8 grid"  # the last stage's output
    assert lines["layers.1.blocks.1.norm1"][0].endswith("→ 4×8 grid  (default)")
    assert "SwinTransformerStage, output 4×8×32" in lines["layers.1"][1]
