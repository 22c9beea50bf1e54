"""Model bundles: manifest, loading and validation.

``ModelManifest`` (and :mod:`engine.models.manifest`, :mod:`engine.models.lock`) import without
torch; the loading names (``load_model``, ``LoadedModel``, ``save_bundle``) load torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_getattr
from engine.models.manifest import SCHEMA_VERSION, ModelManifest

if TYPE_CHECKING:
    from engine.models.bundle import LoadedModel, load_model, save_bundle

_LAZY = {"LoadedModel": "engine.models.bundle", "load_model": "engine.models.bundle",
         "save_bundle": "engine.models.bundle"}

__all__ = ["SCHEMA_VERSION", "LoadedModel", "ModelManifest", "load_model", "save_bundle"]


__getattr__ = lazy_getattr(__name__, _LAZY)
