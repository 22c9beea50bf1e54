"""Explanation methods over one shared core (hooks, all-class VJP, normalisation, result)."""

from engine.explainers.api import (
    LayerInfo,
    MethodInfo,
    default_layer,
    explain,
    list_layers,
    list_methods,
)
from engine.explainers.result import ExplanationResult

__all__ = [
    "ExplanationResult",
    "LayerInfo",
    "MethodInfo",
    "default_layer",
    "explain",
    "list_layers",
    "list_methods",
]
