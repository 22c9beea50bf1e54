"""RadLens engine: the Qt-free core (model bundles, explanations, localisation, I/O).

The public API other parts of RadLens and users' scripts rely on::

    from engine import load_model, explain, list_methods, list_layers
    model = load_model("default")
    result = explain(model, image, method="gradcam")        # every class
    result.map("Cardiomegaly")                               # float32, image pixels

Heavy modules (torch) load on first use of a name that needs them.
"""

from __future__ import annotations

from engine.errors import RadLensError
from engine.lazy import lazy_getattr

_LAZY = {
    "load_model": "engine.models.bundle",
    "save_bundle": "engine.models.bundle",
    "LoadedModel": "engine.models.bundle",
    "ModelManifest": "engine.models.manifest",
    "explain": "engine.explainers.api",
    "explain_layers": "engine.explainers.api",
    "list_methods": "engine.explainers.api",
    "list_layers": "engine.explainers.api",
    "default_layer": "engine.explainers.api",
    "ExplanationResult": "engine.explainers.result",
    "InputGeometry": "engine.preprocess",
    "to_model_input": "engine.preprocess",
}

__all__ = ["RadLensError", *_LAZY]


__getattr__ = lazy_getattr(__name__, _LAZY)
