"""One re-entrant lock per network, taken by the engine around every hooked or model-running use.

Forward hooks are registered on the module itself, so while one thread has hooks on a network,
a forward run by another thread on the same network fires them too: the two would capture each
other's activations. The engine therefore holds :func:`model_lock` around every use of a network
that registers hooks or runs it (``engine.explain``, the alignment and layer probes, the
perturbation frame's forwards, robustness, the data-set Δp table). Callers need not take it; a
caller that wants several calls to run back to back without another thread's forward in between
may hold it around them (it is re-entrant).

Locks are kept per ``nn.Module`` (two :class:`~engine.models.bundle.LoadedModel` objects sharing
one network share its lock) in a weak dictionary, so they go when the network goes. This module
does not import torch.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _network(model: Any) -> Any:
    """The network of a ``LoadedModel`` (its ``module``), or ``model`` itself (an ``nn.Module``)."""
    if hasattr(model, "manifest") and hasattr(model, "module"):
        return model.module
    return model


def lock_for(model: Any) -> threading.RLock:
    """The re-entrant lock of ``model``'s network (a ``LoadedModel`` or an ``nn.Module``)."""
    net = _network(model)
    with _GUARD:
        lock = _LOCKS.get(net)
        if lock is None:
            lock = _LOCKS[net] = threading.RLock()
        return lock


@contextmanager
def model_lock(model: Any) -> Iterator[None]:
    """Hold ``model``'s network for the duration of the block (re-entrant, per network).

    Args:
        model: A ``LoadedModel`` or an ``nn.Module``.
    """
    lock = lock_for(model)
    with lock:
        yield
