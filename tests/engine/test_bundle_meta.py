"""Bundles are built on the meta device and given their tensors (engine.models.bundle._build_on_meta):
the module must be exactly the one the ordinary build-then-load path gives, or that path is taken."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from shared_models import make_manifest
from torch import nn

from engine.models import bundle as bundle_mod
from engine.models.architectures import adapt_state_dict, build_architecture
from engine.models.bundle import _build_on_meta, _read_state_dict, load_model, save_bundle
from engine.models.manifest import ModelManifest
from engine.resources import models_dir


def ordinary(folder: Path) -> nn.Module:
    manifest = ModelManifest.read(folder / "model.json")
    module = build_architecture(manifest, path=folder)
    module.load_state_dict(adapt_state_dict(module, _read_state_dict(folder / manifest.weights)))
    return module.eval()


def same_module(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", ["phantom-resnet18", "phantom-densenet121", "phantom-ctr-resnet18"])
def test_bundled_models_equal_the_ordinary_build(name: str) -> None:
    folder = models_dir() / name
    manifest = ModelManifest.read(folder / "model.json")
    meta = _build_on_meta(manifest, _read_state_dict(folder / manifest.weights), folder)
    assert meta is not None  # float16 files, in_channels 1: the fast path applies
    x = torch.rand(1, manifest.in_channels, *manifest.input_size, generator=torch.Generator().manual_seed(0))
    same_module(meta.eval(), ordinary(folder), x)
    loaded = load_model(folder)
    assert all(not p.requires_grad and not p.is_meta for p in loaded.module.parameters())


@pytest.mark.parametrize(("arch", "size"), [("timm:vit_tiny_patch16_224", 64), ("resnet18", 48)])
def test_other_networks_load_the_same_whichever_path_is_taken(tmp_path: Path, arch: str, size: int) -> None:
    manifest = make_manifest(arch, 3, size)
    torch.manual_seed(1)
    net = build_architecture(manifest)
    folder = save_bundle(tmp_path / "b", net.eval(), manifest)
    loaded = load_model(folder)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    same_module(loaded.module, ordinary(folder), x)


def test_swin_relative_position_index_is_not_in_the_checkpoint_so_the_ordinary_path_builds_it(tmp_path: Path) -> None:
    manifest = make_manifest("timm:swin_tiny_patch4_window7_224", 3, 224)
    folder = save_bundle(tmp_path / "b", build_architecture(manifest).eval(), manifest)
    assert _build_on_meta(manifest, _read_state_dict(folder / "weights.safetensors"), folder) is None


def test_a_checkpoint_that_does_not_fit_is_reported_by_the_ordinary_path(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = make_manifest("resnet18", 3, 48)
    folder = save_bundle(tmp_path / "b", build_architecture(make_manifest("resnet18", 4, 48)), manifest)
    calls: list[str] = []
    real = bundle_mod._load_checked
    monkeypatch.setattr(bundle_mod, "_load_checked", lambda *a: (calls.append("ordinary"), real(*a)))
    with pytest.raises(Exception, match=r"4 outputs but model\.json lists 3"):
        load_model(folder)
    assert calls == ["ordinary"]
