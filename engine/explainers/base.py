"""What every explanation method shares: parameters, the run context, and the registry."""

from __future__ import annotations

import contextvars
import difflib
import math
import os
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from engine.errors import CancelledError, ExplainError, UnknownMethodError
from engine.models.lock import model_lock

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a method, with its research default."""

    name: str
    default: Any
    kind: type
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any, method: str) -> Any:
        if value is None and self.default is None:
            return None
        try:
            if self.kind is bool and isinstance(value, str):
                value = value.lower() in ("1", "true", "yes", "on")
            value = self.kind(value)
        except (TypeError, ValueError):
            raise ExplainError(
                f"{method}: parameter '{self.name}' must be {self.kind.__name__}, got {value!r}."
            ) from None
        if self.choices is not None and value not in self.choices:
            raise ExplainError(f"{method}: '{self.name}' must be one of {self.choices}, got {value!r}.")
        if self.minimum is not None and value < self.minimum:
            raise ExplainError(f"{method}: '{self.name}' must be >= {self.minimum}, got {value!r}.")
        if self.maximum is not None and value > self.maximum:
            raise ExplainError(f"{method}: '{self.name}' must be <= {self.maximum}, got {value!r}.")
        return value


@dataclass
class Context:
    """Everything a method needs for one image.

    Attributes:
        module: The frozen network (eval mode, parameters without grad).
        x: The normalised model input ``(1, C, H, W)`` on ``device``.
        device: Where the computation runs.
        autocast: Whether to run forwards under CUDA autocast.
        progress: Called with (fraction done, message).
        cancel: Returns True when the caller wants the work stopped.
    """

    module: nn.Module
    x: torch.Tensor
    device: torch.device
    autocast: bool = False
    progress: ProgressFn | None = None
    cancel: CancelFn | None = None
    task: str = "multilabel"
    norm_mean: torch.Tensor | None = None
    norm_std: torch.Tensor | None = None
    #: Per target layer, where its grid cells sit on the input (:mod:`engine.explainers.alignment`);
    #: None: tile centres (plain resizing).
    alignments: Mapping[str, Any] | None = None
    #: The network for forwards that only need its output (Score-CAM's masked inputs): the
    #: gradient-free copy of :mod:`engine.models.inference` when the method asks for it
    #: (``Explainer.forward_copy``), else None (use ``module``). No hooks are placed on it.
    forward_module: nn.Module | None = None

    def amp(self) -> AbstractContextManager[Any]:
        if self.autocast and self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return nullcontext()

    def step(self, fraction: float, message: str) -> None:
        """Report progress and honour cancellation between steps."""
        if self.cancel is not None and self.cancel():
            raise CancelledError("the explanation was cancelled.")
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), message)


@dataclass
class MethodOutput:
    """What a method computes for one image.

    Attributes:
        logits: ``(C,)`` class scores of the clean input.
        maps: ``(K, h, w)`` raw maps of the K requested classes, covering the model-input frame.
        layer_maps: Per-layer raw maps when several layers were fused.
        signed: Whether maps carry meaningful negative values.
        notes: Things the user should know about how the maps were made.
        diagnostics: JSON-ready checks of the result (e.g. Integrated Gradients' completeness).
    """

    logits: torch.Tensor
    maps: torch.Tensor
    layer_maps: dict[str, torch.Tensor] = field(default_factory=dict)
    signed: bool = False
    notes: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Explainer(ABC):
    """Base of every method: declare ``name``, ``label``, ``family``, ``params``; implement ``run``."""

    name: ClassVar[str]
    label: ClassVar[str]
    family: ClassVar[str]  # "cam" (needs layers) or "gradient" (w.r.t. the input)
    params: ClassVar[tuple[Param, ...]] = ()
    summary: ClassVar[str] = ""
    #: Whether each target layer's map depends on that layer alone, so that one run over several
    #: layers can be split into single-layer results (:func:`engine.explainers.api.explain_layers`).
    independent_layers: ClassVar[bool] = False
    #: Whether the method runs many output-only forwards that may use the model's gradient-free
    #: copy (``Context.forward_module``: batch norm folded, channels_last; its outputs are checked
    #: against the original's when it is built).
    forward_copy: ClassVar[bool] = False

    @classmethod
    def uses_layers(cls) -> bool:
        return cls.family == "cam"

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and validate; unknown names are an error that lists the valid ones."""
        known = {p.name: p for p in cls.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ExplainError(
                f"{cls.name} has no parameter(s) {unknown}; valid: {sorted(known) or 'none'}."
            )
        return {name: p.check(given.get(name, p.default), cls.name) for name, p in known.items()}

    @abstractmethod
    def run(
        self, ctx: Context, classes: Sequence[int], layers: Sequence[str], params: Mapping[str, Any]
    ) -> MethodOutput:
        """Compute raw maps for ``classes`` (and the clean logits)."""


_REGISTRY: dict[str, type[Explainer]] = {}
_ALIASES: dict[str, str] = {}


def register(*aliases: str) -> Callable[[type[Explainer]], type[Explainer]]:
    """Class decorator adding a method to the registry under its ``name`` and ``aliases``."""

    def deco(cls: type[Explainer]) -> type[Explainer]:
        _REGISTRY[cls.name] = cls
        for alias in aliases:
            _ALIASES[alias] = cls.name
        return cls

    return deco


def get_method(name: str) -> type[Explainer]:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY) + list(_ALIASES), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(
            f"unknown explanation method '{name}'.{hint}",
            fix=f"choose one of {', '.join(_REGISTRY)} (`radlens explain --list-methods`).",
        )
    return _REGISTRY[key]


def registered() -> dict[str, type[Explainer]]:
    return dict(_REGISTRY)


def memory_budget_bytes(device: torch.device) -> int:
    """Bytes a batched computation may use: half the free GPU memory, or a third of free RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 3
    except OSError:
        pass
    return int(os.environ.get("RADLENS_MEMORY_BUDGET", 4 << 30))


#: Largest automatic batch on a CPU: measured on ResNet-18/50 at 224 px (2 cores), throughput
#: is best between 16 and 64 and drops beyond as activations leave the caches.
CPU_BATCH_CAP = 32

# keyed weakly by module (an id() could be reused by a new model), then by input shape
_ACTIVATION_BYTES: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], int]] = weakref.WeakKeyDictionary()


def activation_bytes_per_sample(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of all leaf-module outputs for one input (measured once per model and shape)."""
    per_shape = _ACTIVATION_BYTES.setdefault(module, {})
    key = tuple(x.shape[1:])
    if key not in per_shape:
        total = 0

        def hook(_m: nn.Module, _i: object, out: object) -> None:
            nonlocal total
            if isinstance(out, torch.Tensor):
                total += out.numel() * out.element_size()

        leaves = [m for m in module.modules() if not list(m.children())]
        with model_lock(module):
            handles = [m.register_forward_hook(hook) for m in leaves]
            try:
                with torch.no_grad():
                    module(x[:1])
            finally:
                for h in handles:
                    h.remove()
        per_shape[key] = max(total, x[:1].numel() * x.element_size())
    return per_shape[key]


_BATCH_SCALE: contextvars.ContextVar[float] = contextvars.ContextVar("radlens_batch_scale", default=1.0)


@contextmanager
def batch_scale(scale: float) -> Iterator[None]:
    """Within the block, automatic batch sizes (:func:`auto_batch_size`) are multiplied by ``scale``
    (rounded down, at least 1): a caller that ran out of device memory retries with ``0.5``, ``0.25``...
    Explicit ``batch_size`` parameters are not changed."""
    token = _BATCH_SCALE.set(float(scale))
    try:
        yield
    finally:
        _BATCH_SCALE.reset(token)


def current_batch_scale() -> float:
    """The scale :func:`batch_scale` set (1.0 outside it)."""
    return _BATCH_SCALE.get()


def auto_batch_size(ctx: Context, wanted: int, *, with_grad: bool) -> int:
    """How many inputs one forward(+backward) may take without exhausting memory (times :func:`batch_scale`)."""
    per = activation_bytes_per_sample(ctx.module, ctx.x) * (2 if with_grad else 1)
    fit = max(1, memory_budget_bytes(ctx.device) // max(per, 1))
    if ctx.device.type == "cpu":
        fit = min(fit, CPU_BATCH_CAP)  # CPU throughput peaks near 32 and falls with larger batches
    return int(max(1, math.floor(min(wanted, fit) * _BATCH_SCALE.get())))
