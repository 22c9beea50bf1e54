"""Scoped forward hooks that capture layer outputs, and the all-class VJP.

:class:`LayerTap` registers hooks in ``__enter__`` and always removes them in ``__exit__``.
With ``cut=True`` the first tapped layer to run replaces its output by a fresh leaf tensor
that requires grad, so autograd records only the part of the network *after* that layer:
one forward of the trunk costs what an inference forward costs, and gradients for every class
come from vector-Jacobian products (one per class) through the head alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import torch
from torch import nn

from engine.errors import UnknownLayerError
from engine.models.inference import logits_of  # noqa: F401  (re-exported: explainers use it from here)


def module_by_name(module: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``, or a clear error listing close names."""
    try:
        return module.get_submodule(name)
    except AttributeError:
        import difflib

        names = [n for n, _ in module.named_modules() if n]
        close = difflib.get_close_matches(name, names, n=4)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise UnknownLayerError(
            f"the model has no layer '{name}'.{hint}",
            fix="list the layers with `radlens layers --model PATH`.",
        ) from None


class LayerTap:
    """Capture the outputs of named modules during a forward pass.

    Args:
        module: The network.
        names: Module names to tap.
        cut: Make the first tapped output a grad-requiring leaf (see module docstring).

    After the forward, ``outputs[name]`` holds each layer's output (the last call if a
    module runs several times; ``calls[name]`` says how many).
    """

    def __init__(self, module: nn.Module, names: Sequence[str], *, cut: bool = False) -> None:
        self.module = module
        self.names = list(dict.fromkeys(names))
        self.cut = cut
        self.outputs: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._leaf_made = False

    def __enter__(self) -> LayerTap:
        try:
            for name in self.names:
                sub = module_by_name(self.module, name)
                self._handles.append(sub.register_forward_hook(self._hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(_mod: nn.Module, _inp: object, out: object) -> torch.Tensor | None:
            if not isinstance(out, torch.Tensor):
                raise UnknownLayerError(
                    f"layer '{name}' returns {type(out).__name__}, not a tensor.",
                    fix="choose a layer with a single tensor output (see `radlens layers`).",
                )
            self.calls[name] = self.calls.get(name, 0) + 1
            if not self.cut:
                self.outputs[name] = out.detach()
                return None
            if not self._leaf_made or not out.requires_grad:
                leaf = out.detach().requires_grad_(True)
                self._leaf_made = True
                self.outputs[name] = leaf
                return leaf.clone()  # later in-place ops must not touch the leaf
            self.outputs[name] = out
            return out.clone()

        return hook


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode with parameters not requiring grad; restore afterwards."""
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        module.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)




def class_vjp(
    scores: torch.Tensor, inputs: Sequence[torch.Tensor], classes: Sequence[int], *, batched: bool | None = None
) -> list[torch.Tensor]:
    """Gradients of ``scores[:, c]`` w.r.t. each input, for every class ``c``.

    One backward per class of the scalar ``scores[:, c].sum()``, whose gradient autograd seeds
    itself: the same one-hot vector-Jacobian products as ``torch.autograd.grad`` with one-hot
    ``grad_outputs`` (bit for bit; a test compares them with the batched ``is_grads_batched``
    VJP). Passing ``grad_outputs`` tensors makes torch import ``torch.fx.experimental.symbolic_shapes``
    and SymPy for a shape check (about 0.3 s and 34 MB on a process's first explanation, issue #19);
    the batched VJP was measured no faster here (ResNet-18 and DenseNet-121 heads, five classes).
    On CUDA, where one backward of a small batch is bound by kernel launches, the classes go through
    one batched VJP instead (the same gradients, a test compares both ways on the CPU).

    Args:
        scores: ``(B, C)`` class scores depending on ``inputs``.
        inputs: Tensors in the graph (leaves or not).
        classes: Class indices.
        batched: One batched VJP (``is_grads_batched``) for every class; None: on CUDA only. Falls
            back to one backward per class where an operator has no batching rule.

    Returns:
        One tensor per input of shape ``(len(classes), *input.shape)``.
    """
    k = len(classes)
    if (scores.device.type == "cuda" if batched is None else batched) and k > 1:
        onehot = torch.zeros((k, *scores.shape), dtype=scores.dtype, device=scores.device)
        onehot[torch.arange(k), :, torch.as_tensor(list(classes))] = 1
        try:
            grads = torch.autograd.grad(scores, list(inputs), onehot, is_grads_batched=True, retain_graph=True,
                                        allow_unused=True)
            return [g if g is not None else torch.zeros((k, *x.shape), dtype=x.dtype, device=x.device)
                    for g, x in zip(grads, inputs, strict=True)]
        except RuntimeError:
            pass  # an op without a vmap rule: one backward per class
    per_class = []
    for i, c in enumerate(classes):
        gi = torch.autograd.grad(scores[:, c].sum(), list(inputs), retain_graph=i < k - 1, allow_unused=True)
        per_class.append([_zeros_if_none(g, x) for g, x in zip(gi, inputs, strict=True)])
    return [torch.stack([pc[j] for pc in per_class]) for j in range(len(inputs))]


def _zeros_if_none(g: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    return g if g is not None else torch.zeros_like(x)
