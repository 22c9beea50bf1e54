"""Model bundles: manifest, loading and validation."""

from engine.models.bundle import SCHEMA_VERSION, LoadedModel, ModelManifest, load_model, save_bundle

__all__ = ["SCHEMA_VERSION", "LoadedModel", "ModelManifest", "load_model", "save_bundle"]
