"""Transformers: timm bundles, token layouts, the CAM family on tokens against pytorch-grad-cam, rollouts.

Known answers: pytorch-grad-cam with its documented ``reshape_transform`` on the same network and
layer (after the same normalisation as tests/engine/test_explain_peers.py); attention rollout
recomputed in numpy from each block's q/k; gradient-weighted rollout from a ViT forward written
out by hand (explicit attention tensors, no hooks, no fused kernel) and the rule applied in numpy.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import timm
import torch
import torchvision
from pytorch_grad_cam import GradCAM, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from timm.models.beit import Beit
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from engine import explain
from engine.errors import ExplainError, UnknownArchitectureError
from engine.explainers import alignment as alignment_module
from engine.explainers import list_layers
from engine.explainers.api import default_layer
from engine.models.architectures import adapt_state_dict
from engine.models.bundle import LoadedModel, load_model, save_bundle
from engine.models.manifest import ModelManifest
from engine.preprocess import resample_maps, to_model_input

SIZE = (32, 48)  # non-square: a 4 x 6 patch grid at patch 8


def manifest(arch: str, size: tuple[int, int] = SIZE, classes: int = 3, channels: int = 3) -> ModelManifest:
    return ModelManifest(name="t", version="0", architecture=arch, class_names=tuple(f"c{i}" for i in range(classes)),
                         in_channels=channels, input_size=size,
                         mean=(0.5,) * channels, std=(0.25,) * channels)


def small_vit(**kw: object) -> nn.Module:
    torch.manual_seed(3)
    args: dict[str, object] = dict(img_size=SIZE, patch_size=8, num_classes=3, embed_dim=32, depth=3, num_heads=2)
    args.update(kw)
    return VisionTransformer(**args).eval()  # type: ignore[arg-type]


def pair(net: nn.Module, arch: str = "timm:vit", size: tuple[int, int] = SIZE) -> tuple[LoadedModel, nn.Module]:
    peer = copy.deepcopy(net).eval()
    return LoadedModel.from_module(net, manifest(arch, size)), peer


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:40, 0:60] / 40.0
    img = 0.4 + 0.1 * rng.standard_normal((40, 60)) + 0.5 * np.exp(-((xx - 0.9) ** 2 + (yy - 0.4) ** 2) / 0.02)
    return np.clip(img, 0, 1).astype(np.float32)


def minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (a.max() + 1e-7)


def token_reshape(prefix: int, h: int, w: int):
    """pytorch-grad-cam's documented ViT reshape_transform (drop the class token, rows of the patch grid)."""
    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        result = tensor[:, prefix:, :].reshape(tensor.size(0), h, w, tensor.size(2))
        return result.transpose(2, 3).transpose(1, 2)
    return reshape


def nhwc_reshape(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.permute(0, 3, 1, 2)


def check_against_peer(model, peer, image, method, layer, reshape, peer_cls=None, **params):
    result = explain(model, image, method, layers=layer, normalisation="raw", **params)
    x, _, _ = to_model_input(image, model.manifest)
    cls = peer_cls or {"gradcam": GradCAM, "xgradcam": XGradCAM, "layercam": LayerCAM}[method]
    with cls(model=peer, target_layers=[peer.get_submodule(layer)], reshape_transform=reshape) as cam:
        for c in range(len(model.class_names)):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            if ref.max() == 0:
                assert result.value_ranges[f"c{c}"][1] == 0
                continue
            first = minmax(result.map(c, space="native"))
            ours = minmax(resample_maps(torch.from_numpy(first)[None], (int(x.shape[-2]), int(x.shape[-1])))[0].numpy())
            np.testing.assert_allclose(ours, ref, atol=1e-4, err_msg=f"{method} {layer} class {c}")
    return result


@pytest.mark.parametrize("method", ["gradcam", "xgradcam", "layercam"])
def test_vit_cams_equal_pytorch_grad_cam(image, method):
    model, peer = pair(small_vit())
    assert default_layer(model) == "blocks.2.norm1"
    check_against_peer(model, peer, image, method, "blocks.2.norm1", token_reshape(1, 4, 6))


@pytest.mark.parametrize("kind", ["deit_distilled", "registers", "beit"])
def test_prefix_tokens_are_dropped(image, kind):
    """DeiT (class + distillation token), 4 registers + class token, BEiT: Grad-CAM equals the peer."""
    torch.manual_seed(4)
    if kind == "deit_distilled":
        from timm.models.deit import VisionTransformerDistilled
        net: nn.Module = VisionTransformerDistilled(img_size=SIZE, patch_size=8, num_classes=3, embed_dim=32, depth=2,
                                                    num_heads=2).eval()
        prefix = 2
    elif kind == "registers":
        net = small_vit(reg_tokens=4, depth=2)
        prefix = 5
    else:
        net = Beit(img_size=SIZE, patch_size=8, num_classes=3, embed_dim=32, depth=2, num_heads=2,
                   use_rel_pos_bias=True).eval()
        prefix = 1
    assert net.num_prefix_tokens == prefix
    model, peer = pair(net)
    layer = default_layer(model)
    assert layer == "blocks.1.norm1"
    layers = {la.name: la for la in list_layers(model)}
    dropped = ("class token dropped" if prefix == 1
               else f"{prefix} non-patch tokens dropped: class, distillation, registers")
    assert layers[layer].layout == f"tokens {prefix}+24 \u2192 4\u00d76 grid ({dropped})" and layers[layer].is_default
    check_against_peer(model, peer, image, "gradcam", layer, token_reshape(prefix, 4, 6))


def test_swin_stage_layout_and_peer(image):
    torch.manual_seed(6)
    net = SwinTransformer(img_size=(32, 64), patch_size=4, window_size=4, embed_dim=16, depths=(2, 2),
                          num_heads=(2, 2), num_classes=3).eval()
    model, peer = pair(net, size=(32, 64))
    layer = default_layer(model)
    assert layer == "layers.1.blocks.1.norm1"  # pytorch-grad-cam's documented Swin layer
    listed = {la.name: la for la in list_layers(model)}
    info = listed[layer]
    assert info.output_shape == (4, 8, 32) and "channels-last 4\u00d78\u00d732" in info.layout
    assert "layers.1.blocks.1.attn" not in listed  # windows x batch: no image grid
    assert listed["layers.0.blocks.1.norm2"].layout == "tokens 0+128 \u2192 8\u00d716 grid"  # flattened stage
    result = check_against_peer(model, peer, image, "gradcam", layer, nhwc_reshape)
    a = result.alignment
    assert a is not None and (a.ay, a.by, a.ax, a.bx) == (8.0, 3.5, 8.0, 3.5)  # stage stride 8: patch centres


def test_torchvision_vit_and_swin_default_layers():
    torch.manual_seed(7)
    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                               hidden_dim=16, mlp_dim=32, num_classes=3)
    model = LoadedModel.from_module(vit, manifest("vit_b_16", (32, 32)))
    assert default_layer(model) == "encoder.layers.encoder_layer_1.ln_1"
    info = {la.name: la for la in list_layers(model)}
    layout = info["encoder.layers.encoder_layer_1.ln_1"].layout
    assert layout == "tokens 1+16 \u2192 4\u00d74 grid (class token dropped)"
    assert "conv_proj" in info  # the patch embedding is still a (choosable) layer, just not the default
    result = explain(model, np.random.default_rng(0).random((32, 32)), "gradcam", normalisation="raw")
    assert result.native_maps.shape == (3, 4, 4) and result.layers == ("encoder.layers.encoder_layer_1.ln_1",)
    rollout = explain(model, np.random.default_rng(0).random((32, 32)), "rollout")
    assert rollout.native_maps.shape == (3, 4, 4)
    with pytest.raises(ExplainError, match="outside the autograd graph"):
        explain(model, np.random.default_rng(0).random((32, 32)), "gradrollout")
    swin = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                                              window_size=[4, 4], num_classes=3)
    smodel = LoadedModel.from_module(swin, manifest("swin_t", (32, 32)))
    assert default_layer(smodel) == "features.3.1.norm1"
    res = explain(smodel, np.random.default_rng(0).random((32, 32)), "gradcam", normalisation="raw")
    assert res.native_maps.shape == (3, 4, 4)


def test_scorecam_and_all_classes_on_tokens(image):
    model, peer = pair(small_vit(depth=2, embed_dim=16))
    check_against_peer(model, peer, image, "scorecam", "blocks.1.norm1", token_reshape(1, 4, 6),
                       peer_cls=ScoreCAM, align_corners=True)
    for method in ("gradcampp", "layercam"):
        together = explain(model, image, method, normalisation="raw")
        for c in model.class_names:
            alone = explain(model, image, method, classes=[c], normalisation="raw")
            np.testing.assert_allclose(alone.native_maps[0], together.native_maps[together.index(c)],
                                       rtol=1e-5, atol=1e-7)


def test_patch_grid_alignment_needs_no_probe(image, monkeypatch):
    def no_probe(*_a, **_k):
        raise AssertionError("a patch grid must not be probed")

    monkeypatch.setattr(alignment_module, "_measure", no_probe)
    model, _ = pair(small_vit())
    a = explain(model, image, "gradcam").alignment
    assert a is not None and (a.ay, a.by, a.ax, a.bx, a.grid) == (8.0, 3.5, 8.0, 3.5, (4, 6))


# --- timm bundles ----------------------------------------------------------------------------------
def test_timm_bundle_loads_and_explains(tmp_path, image, capsys):
    man = manifest("timm:test_vit", (64, 96), classes=2, channels=1)
    from engine.models.architectures import build_architecture

    torch.manual_seed(8)
    net = build_architecture(man).eval()
    save_bundle(tmp_path / "b", net, man)
    model = load_model(tmp_path / "b")
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), net(x))
    result = explain(model, image, "gradcam")
    assert result.native_maps.shape == (2, 4, 6) and result.layers == ("blocks.5.norm1",)
    assert result.model["architecture"] == "timm:test_vit"
    from engine.cli.layers import add_arguments, run

    parser = __import__("argparse").ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--model", str(tmp_path / "b"), "--device", "cpu"])) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("blocks.5.norm1 ")]
    assert len(rows) == 1 and "tokens 1+24 → 4×6 grid" in rows[0] and rows[0].endswith("<- default")


def test_position_embedding_is_resampled_for_another_input_size(image):
    sd = small_vit(img_size=(32, 32)).state_dict()  # trained at 32 x 32 (4 x 4 grid), bundled at 48 x 48
    big = small_vit(img_size=(48, 48))
    adapted = adapt_state_dict(big, sd)
    assert adapted["pos_embed"].shape == (1, 37, 32)
    torch.testing.assert_close(adapted["pos_embed"][:, :1], sd["pos_embed"][:, :1])  # the class token's is kept
    from timm.layers import resample_abs_pos_embed

    ref = resample_abs_pos_embed(sd["pos_embed"], new_size=[6, 6], num_prefix_tokens=1)
    torch.testing.assert_close(adapted["pos_embed"], ref)
    big.load_state_dict(adapted)
    model = LoadedModel.from_module(big, manifest("timm:vit", (48, 48)))
    assert explain(model, image, "gradcam").native_maps.shape == (3, 6, 6)
    # a non-square stored grid is left to the shape check (which names the tensor)
    odd = adapt_state_dict(big, small_vit().state_dict())
    assert odd["pos_embed"].shape == (1, 25, 32)


def test_dynamic_img_size_vit(image):
    net = small_vit(img_size=(32, 32), dynamic_img_size=True)
    model, peer = pair(net, size=(40, 24))  # a grid of 5 x 3 through interpolated position embeddings
    check_against_peer(model, peer, image, "gradcam", "blocks.2.norm1", token_reshape(1, 5, 3))


@pytest.mark.parametrize("name,match", [
    ("timm:vit_tiny_patch16_2244", "no architecture 'vit_tiny_patch16_2244'.*timm:vit_tiny_patch16_224"),
    ("timm:hf-hub:timm/vit_tiny_patch16_224.augreg_in21k", "never downloads"),
    ("timm:", "never downloads"),
])
def test_timm_names_refused(tmp_path, name, match):
    from engine.models.architectures import build_architecture

    with pytest.raises(UnknownArchitectureError, match=match):
        build_architecture(manifest(name))


# --- attention rollouts ------------------------------------------------------------------------------
def _np_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def test_rollout_equals_numpy_from_q_and_k(image):
    net = small_vit(reg_tokens=2)  # class token + 2 registers
    model, peer_module = pair(net)
    peer: Any = peer_module
    result = explain(model, image, "rollout", normalisation="raw")
    # each block's attention recomputed in numpy from the input of its attention (norm1's output)
    x, _, _ = to_model_input(image, model.manifest)
    inputs: list[np.ndarray] = []
    handles = [b.norm1.register_forward_hook(lambda _m, _i, o: inputs.append(o[0].double().numpy()))
               for b in peer.blocks]
    with torch.no_grad():
        peer(x)
    for h in handles:
        h.remove()
    n = inputs[0].shape[0]
    r = np.eye(n)
    for blk, t in zip(peer.blocks, inputs, strict=True):
        w, b = blk.attn.qkv.weight.detach().double().numpy(), blk.attn.qkv.bias.detach().double().numpy()
        qkv = (t @ w.T + b).reshape(n, 3, 2, 16)
        q, k = qkv[:, 0].transpose(1, 0, 2), qkv[:, 1].transpose(1, 0, 2)
        a = _np_softmax(q @ k.transpose(0, 2, 1) / np.sqrt(16)).mean(0)
        step = 0.5 * a + 0.5 * np.eye(n)
        r = (step / step.sum(1, keepdims=True)) @ r
    expected = r[0, 3:].reshape(4, 6)
    for c in range(3):
        np.testing.assert_allclose(result.native_maps[c], expected, rtol=1e-5, atol=1e-8)


def _manual_vit(net: Any, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The ViT forward written out: explicit attention probabilities, each kept for its gradient."""
    pe = net.patch_embed.proj(x).flatten(2).transpose(1, 2)
    t = torch.cat([net.cls_token.expand(1, -1, -1), pe], 1) + net.pos_embed
    attns = []
    for blk in net.blocks:
        h = blk.norm1(t)
        n, dim = h.shape[1], h.shape[2]
        qkv = (h @ blk.attn.qkv.weight.T + blk.attn.qkv.bias).reshape(1, n, 3, 2, dim // 2).permute(2, 0, 3, 1, 4)
        a = torch.softmax(qkv[0] @ qkv[1].transpose(-1, -2) * (dim // 2) ** -0.5, -1)
        a.retain_grad()
        attns.append(a)
        o = (a @ qkv[2]).transpose(1, 2).reshape(1, n, dim)
        t = t + blk.attn.proj(o)
        t = t + blk.mlp(blk.norm2(t))
    return net.head(net.norm(t)[:, 0]), attns


def test_gradrollout_equals_handwritten_vit_and_rule(image):
    net = small_vit()
    model, peer = pair(net)
    result = explain(model, image, "gradrollout", normalisation="raw")
    x, _, _ = to_model_input(image, model.manifest)
    x.requires_grad_(True)  # the graph through every attention map
    for c in range(3):
        logits, attns = _manual_vit(peer, x)
        with torch.no_grad():
            torch.testing.assert_close(logits, peer(x), rtol=1e-4, atol=1e-5)
        logits[0, c].backward()
        r = np.eye(25)
        for a in attns:
            assert a.grad is not None
            bar = np.maximum(a.grad[0].double().numpy() * a.detach()[0].double().numpy(), 0).mean(0)
            r = r + bar @ r
        np.testing.assert_allclose(result.native_maps[c], r[0, 1:].reshape(4, 6), rtol=1e-4, atol=1e-7)
    assert not np.allclose(result.native_maps[0], result.native_maps[1])  # class-specific, unlike rollout


def test_rollout_refuses_models_without_global_attention(tiny_pair, chest_like):
    model, _ = tiny_pair
    with pytest.raises(ExplainError, match="no self-attention"):
        explain(model, chest_like, "rollout")


def test_timm_pretrained_tag_selects_nothing_and_methods_are_listed():
    from engine.explainers import list_methods
    from engine.models.architectures import build_architecture

    net = build_architecture(manifest("timm:test_vit.r160_in1k", (32, 32), channels=1))
    assert isinstance(net, VisionTransformer) and net.patch_embed.proj.in_channels == 1
    families = {m.name: m.family for m in list_methods()}
    assert families["rollout"] == families["gradrollout"] == "attention"
    assert timm.is_model("test_vit")
