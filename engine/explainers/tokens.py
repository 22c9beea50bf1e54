"""Layer output layouts: channels-first grids, channels-last grids (Swin) and token sequences (ViT).

CAM methods work on ``(C, h, w)`` activation grids. Transformers give other layouts:

* ViT, DeiT, BEiT, ViTs with register tokens (timm, torchvision ``vit_*``): ``(N, C)`` tokens,
  ``N = prefix + h * w`` where the prefix holds the class token, DeiT's distillation token and
  register tokens (timm ``num_prefix_tokens``; they come first). The prefix is dropped and the
  patch tokens are reshaped row-major to the patch grid ``h x w`` (``h = H // patch``, or
  ``ceil`` with timm's ``dynamic_img_pad``), for the actual model input ``H x W``: non-square
  inputs and interpolated position embeddings need nothing else.
* Swin (timm and torchvision) stages: ``(h, w, C)`` channels-last grids, moved to channels-first.
* CNNs: ``(C, h, w)``, unchanged.

:func:`layout_of` decides from the output shape, the input size and the model's patch
embedding; :meth:`TokenLayout.to_grid` is the reshape (a permutation of entries, so applying it
to activations and to their gradients gives the gradients of the reshaped activations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.sampling import GridAlignment, resize_alignment

KINDS = ("nchw", "nhwc", "tokens")
#: The most non-patch tokens accepted in front of the patch tokens (class, distillation, registers).
MAX_PREFIX = 32


@dataclass(frozen=True)
class TokenLayout:
    """How one layer's output (without the batch axis) maps to a ``(C, h, w)`` grid.

    Attributes:
        kind: ``nchw`` (a CNN grid), ``nhwc`` (Swin stage output) or ``tokens`` (ViT sequence).
        grid: ``(h, w)`` of the grid.
        channels: ``C``.
        prefix: Non-patch tokens in front of the patch tokens (``tokens`` only).
        patch: Input pixels per cell ``(sy, sx)`` when the layer is a patch grid (tokens, Swin), else None.
    """

    kind: str
    grid: tuple[int, int]
    channels: int
    prefix: int = 0
    patch: tuple[int, int] | None = None

    @property
    def is_patch_grid(self) -> bool:
        return self.patch is not None

    def to_grid(self, t: torch.Tensor) -> torch.Tensor:
        """``(..., *raw)`` -> ``(..., C, h, w)`` (any number of leading axes)."""
        if self.kind == "nchw":
            return t
        if self.kind == "nhwc":
            return t.movedim(-1, -3)
        h, w = self.grid
        patches = t[..., self.prefix:, :]
        return patches.reshape(*patches.shape[:-2], h, w, patches.shape[-1]).movedim(-1, -3)

    def describe(self) -> str:
        """A short human description, e.g. ``tokens 1+196 -> 14x14 grid (class token dropped)``.

        ``radlens layers`` prints it and the viewer's layer chooser shows it beside each layer.
        """
        h, w = self.grid
        if self.kind == "tokens":
            text = f"tokens {self.prefix}+{h * w} \u2192 {h}\u00d7{w} grid"
            if self.prefix == 1:
                return text + " (class token dropped)"
            if self.prefix > 1:
                return text + f" ({self.prefix} non-patch tokens dropped: class, distillation, registers)"
            return text
        if self.kind == "nhwc":
            return f"channels-last {h}\u00d7{w}\u00d7{self.channels} \u2192 {h}\u00d7{w} grid"
        return f"{h}\u00d7{w} grid"

    def alignment(self, input_size: tuple[int, int]) -> GridAlignment | None:
        """Patch grids: token ``(i, j)`` is centred on its patch, ``p*i + (p-1)/2``; None for CNN grids."""
        if self.patch is None:
            return None
        sy, sx = self.patch
        base = resize_alignment(self.grid, input_size)
        return GridAlignment(float(sy), (sy - 1) / 2, float(sx), (sx - 1) / 2, base.grid, "receptive_field")


def patch_size(module: nn.Module) -> tuple[int, int] | None:
    """The patch size of a transformer's patch embedding (timm, torchvision), or None."""
    pe = getattr(module, "patch_embed", None)
    size = getattr(pe, "patch_size", None)
    if size is not None:
        return (int(size[0]), int(size[1])) if isinstance(size, tuple | list) else (int(size), int(size))
    tv = getattr(module, "patch_size", None)
    if isinstance(tv, int) and hasattr(module, "conv_proj"):
        return tv, tv
    for sub in module.modules():  # torchvision Swin: features[0][0] is a kernel == stride convolution
        if isinstance(sub, nn.Conv2d):
            k, s = tuple(sub.kernel_size), tuple(sub.stride)
            return (int(s[0]), int(s[1])) if k == s and s[0] > 1 and _is_transformer(module) else None
    return None


def _is_transformer(module: nn.Module) -> bool:
    return any(isinstance(m, nn.LayerNorm | nn.MultiheadAttention) for m in module.modules()) and not any(
        isinstance(m, nn.BatchNorm2d) for m in module.modules())


def patch_grid(module: nn.Module, input_size: tuple[int, int]) -> tuple[int, int] | None:
    """The patch grid ``(h, w)`` for an input ``H x W`` (timm's dynamic padding honoured)."""
    p = patch_size(module)
    if p is None:
        return None
    pe = getattr(module, "patch_embed", None)
    if getattr(pe, "dynamic_img_pad", False):
        return math.ceil(input_size[0] / p[0]), math.ceil(input_size[1] / p[1])
    return input_size[0] // p[0], input_size[1] // p[1]


def _grid_fits(h: int, w: int, size: tuple[int, int]) -> int | None:
    """The stride ``s`` with ``h x w`` = ``H/s x W/s`` (floor or ceil), or None."""
    big_h, big_w = size
    for s in range(1, max(big_h, big_w) + 1):
        if h in (big_h // s, -(-big_h // s)) and w in (big_w // s, -(-big_w // s)):
            return s
        if big_h // s < h and -(-big_h // s) < h:
            break
    return None


def num_prefix_tokens(module: nn.Module) -> int | None:
    """timm's ``num_prefix_tokens``; torchvision ViT: 1 (its class token); None if unknown."""
    n = getattr(module, "num_prefix_tokens", None)
    if isinstance(n, int):
        return n
    if hasattr(module, "class_token") and hasattr(module, "conv_proj"):
        return 1
    return None


def layout_of(module: nn.Module, shape: tuple[int, ...], input_size: tuple[int, int]) -> TokenLayout | None:
    """The layout of a layer output shaped ``shape`` (no batch axis) for an input ``H x W``; None if not a grid."""
    input_size = (int(input_size[0]), int(input_size[1]))
    if len(shape) == 3:
        c, h, w = (int(v) for v in shape)
        if _grid_fits(h, w, input_size) is not None:
            return TokenLayout("nchw", (h, w), c)
        s = _grid_fits(c, h, input_size) if _is_transformer(module) else None
        if s is not None:  # (h, w, C): a Swin stage, channels last
            return TokenLayout("nhwc", (c, h), w, patch=(s, s))
        if _is_transformer(module) and _per_head_tokens(module, h, input_size):
            return None  # (heads, tokens, head_dim) inside attention (q/k norms): no image grid
        return TokenLayout("nchw", (h, w), c)  # a CNN grid of unusual size (valid convolutions)
    if len(shape) != 2:
        return None
    n, c = int(shape[0]), int(shape[1])
    grid = patch_grid(module, input_size)
    p = patch_size(module)
    if grid is None or p is None:
        return None
    known = num_prefix_tokens(module)
    prefix = n - grid[0] * grid[1]
    if 0 <= prefix <= MAX_PREFIX and (known is None or prefix == known):
        return TokenLayout("tokens", grid, c, prefix, p)
    for k in (2, 4, 8, 16):  # hierarchical models with flattened stages (B, L, C): no prefix
        g = patch_grid_scaled(grid, k)
        if g[0] * g[1] == n:
            return TokenLayout("tokens", g, c, 0, (p[0] * k, p[1] * k))
    return None


def _per_head_tokens(module: nn.Module, n: int, input_size: tuple[int, int]) -> bool:
    """Whether ``n`` is a ViT's token count (prefix + patches), i.e. an output shaped (heads, tokens, head_dim)."""
    grid = patch_grid(module, input_size)
    return grid is not None and 0 <= n - grid[0] * grid[1] <= MAX_PREFIX


def patch_grid_scaled(grid: tuple[int, int], k: int) -> tuple[int, int]:
    return -(-grid[0] // k), -(-grid[1] // k)


def family_default_layer(module: nn.Module) -> str | None:
    """The layer the field explains transformers at (pytorch-grad-cam's documented choices).

    ViT / DeiT / BEiT (timm): ``blocks[-1].norm1``; torchvision ViT: ``encoder.layers[-1].ln_1``;
    Swin (timm): ``layers[-1].blocks[-1].norm1``; torchvision Swin: ``features[-1][-1].norm1``.
    None for other models.
    """
    names = {id(m): n for n, m in module.named_modules()}
    candidates: list[nn.Module | None] = []
    blocks = getattr(module, "blocks", None)
    if isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks):
        candidates.append(getattr(blocks[-1], "norm1", None))
    encoder = getattr(module, "encoder", None)
    layers = getattr(encoder, "layers", None)
    if isinstance(layers, nn.Sequential) and len(layers) and hasattr(module, "conv_proj"):
        candidates.append(getattr(layers[-1], "ln_1", None))
    stages = getattr(module, "layers", None)
    if isinstance(stages, nn.Sequential | nn.ModuleList) and len(stages):
        inner = getattr(stages[-1], "blocks", None)
        if isinstance(inner, nn.Sequential | nn.ModuleList) and len(inner):
            candidates.append(getattr(inner[-1], "norm1", None))
    features = getattr(module, "features", None)
    if type(module).__name__ == "SwinTransformer" and isinstance(features, nn.Sequential):
        last = features[-1]
        if isinstance(last, nn.Sequential) and len(last):
            candidates.append(getattr(last[-1], "norm1", None))
    for c in candidates:
        if isinstance(c, nn.Module) and id(c) in names:
            return names[id(c)]
    return None
