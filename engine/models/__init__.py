"""Model bundles: manifest, loading and validation.

``ModelManifest`` (and :mod:`engine.models.manifest`, :mod:`engine.models.lock`) import without
torch; the loading names (``load_model``, ``LoadedModel``, ``save_bundle``) load torch on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.models.manifest import SCHEMA_VERSION, ModelManifest

if TYPE_CHECKING:
    from engine.models.bundle import LoadedModel, load_model, save_bundle

_LAZY = {"LoadedModel": "engine.models.bundle", "load_model": "engine.models.bundle",
         "save_bundle": "engine.models.bundle"}

__all__ = ["SCHEMA_VERSION", "LoadedModel", "ModelManifest", "load_model", "save_bundle"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine.models' has no attribute {name!r}")
