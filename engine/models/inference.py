"""A faster copy of a model for gradient-free forwards (the perturbation lab, studies' Δp, Score-CAM).

Explanations need the network as it is: hooks on its layers, gradients through it. Forwards that
only want the output (a perturbation slider move, a deletion curve, a corrupted image) can use a
copy that computes the same function faster on the CPU (Score-CAM's masked inputs too: the
layer activations come from a hooked forward of the original, the masked forwards from the copy):

* batch normalisation folded into the convolution before it (``torch.fx``'s ``fuse``: inference
  BN is an affine map per channel, so ``conv -> bn`` is one convolution with rescaled weights);
* weights and activations in ``channels_last`` layout, which oneDNN's convolutions run faster.

On the default ResNet-18 at 384 x 384 this takes a forward from 846 to 404 ms on a loaded 2-core
machine (issue #19; scripts/bench_live.py measures the slider). The copy is checked against the
original on a random input when it is built: if any output differs by more than
:data:`TOLERANCE` (relative to the output's scale), or the network cannot be traced, the original
module is used and the reason is kept in :attr:`InferenceCopy.note`. TorchScript models and
networks without convolutions are used as they are.

The copy follows the original's weights: it is rebuilt when any parameter or buffer of the original
was changed in place (its version counter moved, as ``copy_``, ``load_state_dict`` and optimiser
steps do) or replaced. The sanity study randomises a network layer by layer in place; without this
its Score-CAM and Δp forwards would run on the weights of the first step.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from engine.models.bundle import LoadedModel

TOLERANCE = 1e-4
"""Largest accepted difference between the copy's and the original's outputs, relative to the
largest absolute output."""


class _ChannelsLast(nn.Module):
    """Runs ``inner`` on a channels_last view of 4-D inputs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> Any:
        return self.inner(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x)


@dataclass(frozen=True)
class InferenceCopy:
    """The module to run gradient-free forwards with, and what was done to get it."""

    module: nn.Module
    fused: bool
    channels_last: bool
    note: str


_cache: weakref.WeakKeyDictionary[Any, tuple[tuple[tuple[int, int], ...], InferenceCopy]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def weights_state(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """Identity and in-place version of every parameter and buffer of ``module`` (a few µs).

    Tensors made under ``torch.inference_mode`` have no version counter; for them only the identity
    counts (they cannot be changed in place outside inference mode anyway)."""
    return tuple((id(t), _version(t)) for t in (*module.parameters(), *module.buffers()))


def _version(t: torch.Tensor) -> int:
    try:
        return int(t._version)
    except RuntimeError:  # an inference tensor
        return -1


def inference_copy(model: LoadedModel) -> InferenceCopy:
    """The faster copy of ``model.module``: built on first use, kept while the model lives and its
    weights are unchanged, rebuilt after they change."""
    with _lock:
        state = weights_state(model.module)
        found = _cache.get(model)
        if found is None or found[0] != state:
            found = (state, _build(model))
            _cache[model] = found
        return found[1]


def logits_of(output: object) -> torch.Tensor:
    """The class-score tensor of a model output (plain tensor, tuple, or dict with 'logits')."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict) and "logits" in output:
        return output["logits"]
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find class scores in a model output of type {type(output).__name__}")


def _outputs(value: Any) -> torch.Tensor:
    return logits_of(value).float()


def _build(model: LoadedModel) -> InferenceCopy:
    module = model.module
    convs = sum(isinstance(m, nn.Conv2d) for m in module.modules())
    if model.is_torchscript or convs < 4:
        return InferenceCopy(module, False, False, "used as it is (TorchScript, or few convolutions)")
    try:
        from torch.fx.experimental.optimization import fuse

        candidate: nn.Module = fuse(copy.deepcopy(module))
        fused, note = True, "batch norm folded into convolutions, channels_last"
    except Exception as exc:  # not traceable (control flow on values): no folding, layout only
        candidate, fused = copy.deepcopy(module), False
        note = f"channels_last only (not traceable: {type(exc).__name__})"
    candidate = _ChannelsLast(candidate.to(memory_format=torch.channels_last)).eval()
    for p in candidate.parameters():
        p.requires_grad_(False)
    m = model.manifest
    generator = torch.Generator().manual_seed(0)
    x = torch.rand((2, m.in_channels, *m.input_size), generator=generator).to(model.device)
    with torch.no_grad():
        want, got = _outputs(module(x)), _outputs(candidate(x))
    scale = max(float(want.abs().max()), 1e-6)
    if want.shape != got.shape or not torch.isfinite(got).all() or float((got - want).abs().max()) > TOLERANCE * scale:
        return InferenceCopy(module, False, False, "used as it is (the faster copy did not match it)")
    return InferenceCopy(candidate, fused, True, note)
