"""Reading a user's checkpoint safely and fitting its tensor names to an architecture.

A checkpoint is a ``state_dict`` in ``.safetensors`` or ``.pt``/``.pth``/``.bin`` (read with
``torch.load(weights_only=True)``, so no Python object is ever built from the file: a pickled
``nn.Module`` or any other object is refused before any of its code can run). The usual wrappers
are opened (Lightning's ``{"state_dict": ...}``, ``{"model": ...}``, ``{"model_state_dict": ...}``)
and the usual prefixes removed (``module.`` from DataParallel/DDP, ``model.``, ``backbone.``,
``net.``, ``_orig_mod.`` from ``torch.compile``), each only when removing it makes more names match
the architecture.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import UnsafeModelFileError, WeightsMismatchError

#: Keys under which training scripts nest the state_dict, tried in this order.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")
#: The usual wrapper prefixes (preferred on ties; any other prefix is found the same way).
PREFIXES = ("module.", "model.", "backbone.", "net.", "_orig_mod.")
_SAVE_HINT = (
    "save only the weights: torch.save(model.state_dict(), 'weights.pth') (for a Lightning checkpoint: "
    "in the training environment that wrote it, load the LightningModule with its load_from_checkpoint "
    "and save its state_dict), or better safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')."
)


@dataclass(frozen=True)
class Checkpoint:
    """Tensors read from a checkpoint file and how they were found.

    Attributes:
        state: Name -> tensor, as stored (wrappers opened, no prefix removed yet).
        wrapper: The keys opened to reach the tensors (e.g. ``("state_dict",)``), empty for a bare one.
        fmt: ``"safetensors"`` or ``"torch"``.
    """

    state: dict[str, torch.Tensor]
    wrapper: tuple[str, ...]
    fmt: str


def read_checkpoint(path: Path) -> Checkpoint:
    """Read the tensors of a checkpoint without unpickling any object.

    Raises:
        UnsafeModelFileError: The file holds pickled Python objects (a whole model, a custom class).
        WeightsMismatchError: Not a readable checkpoint, or no mapping of names to tensors in it.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise WeightsMismatchError("checkpoint file not found.", path=path,
                                   fix="give the path of a .pth/.pt/.safetensors file.")
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return Checkpoint(dict(load_file(str(path), device="cpu")), (), "safetensors")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsMismatchError(f"cannot read safetensors file ({exc}).", path=path,
                                       fix="re-export it with safetensors.torch.save_file.") from exc
    if suffix not in (".pt", ".pth", ".bin", ".ckpt"):
        raise WeightsMismatchError(f"unsupported checkpoint type '{suffix}'.", path=path,
                                   fix="give a state_dict in .safetensors, .pth, .pt or .ckpt.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" (it needs the Python object '{found.group(1)}')" if found else ""
        raise UnsafeModelFileError(
            f"the file holds pickled Python objects, not only tensors{what}; RadLens never unpickles "
            "model files, since unpickling runs code from the file.", path=path, fix=_SAVE_HINT) from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise WeightsMismatchError(f"cannot read the checkpoint ({exc}).", path=path,
                                   fix="check that the file is a PyTorch checkpoint and not truncated.") from exc
    state, wrapper = _unwrap(obj, path)
    return Checkpoint(state, wrapper, "torch")


def _is_state(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    keys: tuple[str, ...] = ()
    for _ in range(4):  # wrappers nest at most a few levels ({"model": {"state_dict": ...}})
        if _is_state(obj):
            return {str(k): v for k, v in obj.items()}, keys
        if not isinstance(obj, Mapping):
            break
        inner = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj, keys = obj[inner], (*keys, inner)
    shown = f"a {type(obj).__name__}"
    if isinstance(obj, Mapping):
        shown += f" with keys {sorted(map(str, obj))[:8]}"
    raise WeightsMismatchError(
        f"no state_dict found in the checkpoint (found {shown}).", path=path,
        fix=f"save a mapping of names to tensors, under one of {list(WRAPPER_KEYS)} or at the top level; {_SAVE_HINT}")


@dataclass(frozen=True)
class Remapped:
    """A state_dict renamed to fit an architecture.

    Attributes:
        state: Names as the architecture expects them.
        removed_prefixes: The prefix stripped (e.g. ``("model.module.",)``), empty when none.
        outside: Tensors that were not under the stripped prefixes (e.g. a loss's ``pos_weight``
            beside a Lightning module's ``model.``); they keep their names.
    """

    state: dict[str, torch.Tensor]
    removed_prefixes: tuple[str, ...]
    outside: tuple[str, ...]


def remap_names(state: Mapping[str, torch.Tensor], expected: set[str]) -> Remapped:
    """Strip the wrapper prefix under which most tensor names match ``expected``.

    Every ending of a name at a dot is a candidate (``net.module.fc.weight`` offers ``net.module.``
    and ``net.``), so prefixes nested by several wrappers (DDP inside Lightning) are found in one
    step; the prefix kept is the one under which most names match the architecture, and only if more
    match than with no prefix removed (ties prefer the usual :data:`PREFIXES`, then the shorter).
    """
    counts: dict[str, int] = {"": len(expected & set(state))}
    for key in state:
        parts = key.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[i:]) in expected:
                prefix = ".".join(parts[:i]) + "."
                counts[prefix] = counts.get(prefix, 0) + 1

    def rank(prefix: str) -> tuple[int, int, int]:
        usual = all(p + "." in PREFIXES for p in prefix.rstrip(".").split(".")) if prefix else True
        return (counts[prefix], int(usual), -len(prefix))

    best = max(counts, key=rank)
    if not best or counts[best] <= counts[""]:
        return Remapped(dict(state), (), ())
    current = {k.removeprefix(best): v for k, v in state.items()}
    outside = tuple(sorted(k for k in state if not k.startswith(best)))
    return Remapped(current, (best,), outside)
