"""Build the untrained network a manifest names: a torchvision name, or ``timm:NAME``.

Weights always come from the bundle. torchvision models are built with ``weights=None`` and
timm models with ``pretrained=False``, so nothing is ever downloaded; timm names that would
fetch a model or its configuration from a hub (``hf-hub:``, ``hf_hub:``, ``local-dir:``) are
refused with :class:`~engine.errors.UnknownArchitectureError`, as are names timm does not know.

timm models are created with ``num_classes``, ``in_chans`` and, where the architecture has a
fixed image size (ViT, DeiT, BEiT, Swin), ``img_size`` set from the manifest. A ViT checkpoint
trained at another input size is adapted when loaded: its absolute position embedding is
resampled to the bundle's patch grid (:func:`adapt_state_dict`, timm's own resampling).

A manifest's ``head: "gap"`` (:func:`apply_head`) gives a torchvision VGG or AlexNet the head of
the CAM literature (VGG-GAP, Zhou et al. 2016): global average pooling and one linear layer
instead of the fully-connected classifier that holds ~93% of a VGG's parameters.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BundleManifestError, UnknownArchitectureError
from engine.models.manifest import ModelManifest

TIMM_PREFIX = "timm:"
#: timm name prefixes that read a model or its config from a hub or a folder: never followed.
_HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:", "http:", "https:")


def is_timm(architecture: str) -> bool:
    """Whether ``architecture`` names a timm model (``timm:NAME``)."""
    return architecture.startswith(TIMM_PREFIX)


def build_architecture(manifest: ModelManifest, *, path: Path | None = None) -> nn.Module:
    """The untrained network ``manifest.architecture`` names, sized to its classes and channels."""
    if is_timm(manifest.architecture):
        module = _build_timm(manifest, path)
        if manifest.head is not None:
            apply_head(module, manifest, path=path)
        return module
    if manifest.head is None:
        return _build_torchvision(manifest, path)
    # built on the meta device so the replaced classifier (VGG-11: 119.6 M parameters, 478 MB) is
    # never allocated, then materialised and initialised as torchvision initialises the architecture
    with torch.device("meta"):
        module = _build_torchvision(manifest, path, deferred_init=True)
        apply_head(module, manifest, path=path)
    module = module.to_empty(device="cpu")
    _initialise(module)
    return module


def _initialise(module: nn.Module) -> None:
    """Fresh parameters and buffers after ``to_empty``: each layer's own reset, then VGG's scheme."""
    from engine.models.tvimport import import_torchvision

    with torch.no_grad():
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
        if not isinstance(module, import_torchvision().models.VGG):
            return
        for m in module.modules():  # torchvision.models.VGG.__init__(init_weights=True)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


def apply_head(module: nn.Module, manifest: ModelManifest, *, path: Path | None = None) -> None:
    """Replace ``module``'s classifier head as ``manifest.head`` says (in place).

    ``"gap"``: a torchvision VGG's or AlexNet's ``avgpool`` becomes ``AdaptiveAvgPool2d(1)`` and its
    fully-connected ``classifier`` one ``Linear(C, num_classes)``, C being the channels of the last
    convolution of ``features``; the model's own forward (features -> avgpool -> flatten ->
    classifier) is unchanged.

    Raises:
        BundleManifestError: the head is unknown, or the architecture has no such head.
    """
    from engine.models.tvimport import import_torchvision

    where = path / "model.json" if path is not None and path.is_dir() else path
    if manifest.head != "gap":
        raise BundleManifestError(f"model.json's head {manifest.head!r} is unknown.", path=where,
                                  fix="use \"head\": \"gap\", or remove 'head' for the architecture's own head.")
    tv = import_torchvision().models
    features = getattr(module, "features", None)
    convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)] if isinstance(features, nn.Module) else []
    if not isinstance(module, tv.VGG | tv.AlexNet) or not convs:
        raise BundleManifestError(
            f"model.json's head 'gap' applies to torchvision VGG and AlexNet models only, not to "
            f"'{manifest.architecture}'.", path=where,
            fix="remove 'head' from model.json (this architecture already ends in global pooling and one "
            "linear layer, or has no features/avgpool/classifier layout), or use a vgg*/alexnet architecture.",
        )
    module.avgpool = nn.AdaptiveAvgPool2d(1)
    module.classifier = nn.Linear(convs[-1].out_channels, manifest.num_classes)


def head_hint(manifest: ModelManifest, state: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """The fix when weights and manifest disagree only about ``head`` (None when that is not the case)."""
    gap_weights = "classifier.weight" in state and "classifier.weight" not in expected
    full_weights = "classifier.0.weight" in state and "classifier.0.weight" not in expected
    if manifest.head is None and gap_weights:
        return ("the weights end in one linear 'classifier' after global average pooling (VGG-GAP): add "
                "\"head\": \"gap\" to model.json.")
    if manifest.head == "gap" and full_weights:
        return ("the weights hold the architecture's own fully-connected classifier: remove \"head\" from "
                "model.json.")
    return None


def _build_torchvision(manifest: ModelManifest, path: Path | None, *, deferred_init: bool = False) -> nn.Module:
    """``deferred_init``: built on the meta device, initialised afterwards by :func:`_initialise`."""
    from engine.models.tvimport import import_torchvision

    torchvision = import_torchvision()

    available = sorted(torchvision.models.list_models(module=torchvision.models))
    if manifest.architecture not in available:
        close = difflib.get_close_matches(manifest.architecture, available, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownArchitectureError(
            f"unknown architecture '{manifest.architecture}'.{hint}", path=path,
            fix=f"use a torchvision classification model name ({', '.join(available[:6])}, ...), "
            "'timm:NAME' for a timm model, or 'torchscript'.",
        )
    kwargs: dict[str, Any] = {"weights": None, "num_classes": manifest.num_classes}
    if deferred_init and manifest.architecture.startswith("vgg"):
        # VGG's own initialisation on the meta device goes through torch._refs, which imports
        # torch._dynamo (about 2 s); _initialise applies the same scheme to the real tensors
        kwargs["init_weights"] = False
    if manifest.architecture.startswith(("inception", "googlenet")):
        kwargs["aux_logits"] = False
        kwargs["init_weights"] = False
    if manifest.architecture.startswith("vit_"):  # its position embedding is sized at build time
        kwargs["image_size"] = _square_size(manifest, path)
    module = torchvision.models.get_model(manifest.architecture, **kwargs)
    if manifest.in_channels != 3:
        set_input_channels(module, manifest.in_channels)
    return module


def _square_size(manifest: ModelManifest, path: Path | None) -> int:
    h, w = manifest.input_size
    if h != w:
        raise UnknownArchitectureError(
            f"torchvision's {manifest.architecture} takes square inputs only, not {h}x{w}.", path=path,
            fix="use a square input_size, or 'timm:' with the timm equivalent (non-square inputs work there).",
        )
    return h


def _build_timm(manifest: ModelManifest, path: Path | None) -> nn.Module:
    import timm

    name = manifest.architecture[len(TIMM_PREFIX):].strip()
    if not name or name.lower().startswith(_HUB_PREFIXES) or "/" in name:
        raise UnknownArchitectureError(
            f"'{manifest.architecture}' would load a model definition from a hub or a folder; RadLens "
            "builds timm models from their built-in definitions only and never downloads anything.",
            path=path, fix="name a built-in timm architecture, e.g. 'timm:vit_tiny_patch16_224', and put "
            "the weights in the bundle.",
        )
    base = name.split(".", 1)[0]  # a pretrained tag (".augreg_in21k") selects weights only: irrelevant here
    if not timm.is_model(base):
        close = difflib.get_close_matches(base, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UnknownArchitectureError(
            f"timm has no architecture '{base}'.{hint}", path=path,
            fix="use a name from timm.list_models() after 'timm:'.",
        )
    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": manifest.num_classes,
                              "in_chans": manifest.in_channels}
    try:
        return timm.create_model(base, img_size=tuple(manifest.input_size), **kwargs)
    except TypeError:
        pass  # the architecture has no fixed image size (a CNN): build it without one
    try:
        return timm.create_model(base, **kwargs)
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        raise UnknownArchitectureError(
            f"timm cannot build '{base}' for {manifest.in_channels} channel(s) at {manifest.input_size} "
            f"({exc}).", path=path, fix="check input_size and in_channels for this architecture.",
        ) from exc


def adapt_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fit a checkpoint to ``module`` where only the input size differs.

    A ViT's absolute position embedding (``pos_embed``, timm) stored for another patch grid is
    resampled (bicubic, prefix tokens kept) to the module's grid, as timm does when it loads
    pretrained weights at another image size. Everything else is returned unchanged.
    """
    out = dict(state)
    pos = out.get("pos_embed")
    mine = getattr(module, "pos_embed", None)
    patch = getattr(module, "patch_embed", None)
    if (pos is None or not isinstance(mine, torch.Tensor) or patch is None or pos.ndim != 3 or mine.ndim != 3
            or tuple(pos.shape) == tuple(mine.shape) or pos.shape[-1] != mine.shape[-1]):
        return out
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(module, "no_embed_class", False) else int(getattr(module, "num_prefix_tokens", 0))
    new_grid = tuple(int(v) for v in patch.grid_size)
    old_tokens = pos.shape[1] - prefix
    side = round(old_tokens ** 0.5)
    if side * side != old_tokens:
        return out  # not a square grid: leave the mismatch to the shape check
    out["pos_embed"] = resample_abs_pos_embed(
        pos.float(), new_size=list(new_grid), old_size=[side, side], num_prefix_tokens=prefix, verbose=False,
    ).to(pos.dtype)
    return out


def set_input_channels(module: nn.Module, channels: int) -> None:
    """Replace the first convolution so the network takes ``channels`` input channels."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            new = nn.Conv2d(
                channels, child.out_channels, child.kernel_size,  # type: ignore[arg-type]
                stride=child.stride,  # type: ignore[arg-type]
                padding=child.padding,  # type: ignore[arg-type]
                dilation=child.dilation,  # type: ignore[arg-type]
                groups=1, bias=child.bias is not None, padding_mode=child.padding_mode,
            )
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, new)
            return
    raise UnknownArchitectureError("the architecture has no Conv2d to adapt to in_channels.")
