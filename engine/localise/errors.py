"""Errors raised by :mod:`engine.localise`, all subclasses of :class:`RadLensError`."""

from __future__ import annotations

from engine.errors import RadLensError


class LocaliseError(RadLensError):
    """Base class of the localisation errors."""


class InvalidMapError(LocaliseError):
    """A heatmap holds NaN or infinite values, or is empty."""


class InvalidBoxError(LocaliseError):
    """A box is malformed: not four finite numbers, or an edge lies before its opposite edge."""


class ThresholdSpecError(LocaliseError):
    """A threshold specification is unknown or its value is out of range."""


class InvalidPolicyError(LocaliseError):
    """A box-selection mode or scoring policy is not one of the names accepted."""
