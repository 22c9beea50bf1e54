"""Checkpoints: plain dicts of tensors and numbers, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds the model, optimiser, scheduler and grad-scaler states, the epoch just
finished, the best validation metric and its weights, the early-stopping counter, the history
and every RNG state. The NumPy and Python RNG states are stored as lists and tensors (never
NumPy objects), so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.atomic import atomic_write_bytes
from engine.errors import RadLensError

CHECKPOINT_SCHEMA = 1


class CheckpointError(RadLensError):
    """A checkpoint cannot be read or does not fit the run."""


def rng_state() -> dict[str, Any]:
    """Every RNG state the training touches, as tensors and lists."""
    # The legacy global NumPy RNG is what libraries (and user code) still seed and draw from.
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(py_version), "state": list(py_state),
                   "gauss": None if py_gauss is None else float(py_gauss)},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"],  # noqa: NPY002
                          keys, int(n["pos"]), int(n["has_gauss"]), float(n["cached_gaussian"])))
    p = state["python"]
    random.setstate((int(p["version"]), tuple(int(v) for v in p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, dicts, lists, numbers, strings) atomically with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save({"schema_version": CHECKPOINT_SCHEMA, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: Missing file, pickled objects, or an unknown schema.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("checkpoint not found.", path=p, fix="pass --resume PATH to a checkpoint.pt.")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError("the checkpoint holds pickled Python objects; RadLens never unpickles them.",
                              path=p, fix="resume only from checkpoints written by radlens train.") from exc
    except (RuntimeError, OSError, EOFError) as exc:
        raise CheckpointError(f"cannot read the checkpoint ({exc}).", path=p) from exc
    if not isinstance(state, dict) or state.get("schema_version") != CHECKPOINT_SCHEMA:
        raise CheckpointError("not a RadLens training checkpoint (or a newer schema).", path=p)
    return state
