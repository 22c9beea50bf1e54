"""One error hierarchy for everything RadLens refuses.

Every error names what it refused (usually a file) and says what to do about it.
Callers catch :class:`RadLensError`; nothing else is meant to escape the engine's
public functions for bad input.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class RadLensError(Exception):
    """Base class of every error RadLens raises on purpose.

    Args:
        problem: What went wrong, in one sentence.
        path: The file or folder concerned, if any; it starts the message.
        fix: What the user can do about it.
    """

    def __init__(
        self, problem: str, *, path: str | PathLike[str] | None = None, fix: str | None = None
    ) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = f"{self.path}: {self.problem}" if self.path is not None else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


# --- files and images -------------------------------------------------------------------
class ImageReadError(RadLensError):
    """An image file could not be turned into pixels."""


class UnreadableFileError(ImageReadError):
    """The file is missing, unreadable or empty."""


class NotAnImageError(ImageReadError):
    """The file is readable but holds no image RadLens understands."""


class UnsupportedTransferSyntaxError(ImageReadError):
    """The pixel data is compressed in a way no installed decoder handles."""


class CorruptPixelDataError(ImageReadError):
    """The pixel data is truncated or inconsistent with the header."""


class UnsupportedImageError(ImageReadError):
    """A valid image of a kind RadLens does not display (e.g. a 3-D volume)."""


# --- annotations --------------------------------------------------------------------------
class AnnotationError(RadLensError):
    """An annotation file could not be read or written."""


class UnknownAnnotationFormatError(AnnotationError):
    """The file matches none of the annotation formats RadLens reads."""


class AnnotationParseError(AnnotationError):
    """The file is in a known format but a row or field is invalid."""


# --- models ---------------------------------------------------------------------------------
class ModelError(RadLensError):
    """A model bundle or model file could not be used."""


class BundleManifestError(ModelError):
    """``model.json`` is missing, malformed or inconsistent."""


class UnknownArchitectureError(ModelError):
    """The manifest names an architecture RadLens cannot build."""


class WeightsMismatchError(ModelError):
    """The weights do not fit the architecture (missing, unexpected or mis-shaped tensors)."""


class UnsafeModelFileError(ModelError):
    """The file would need unpickling arbitrary objects, which RadLens never does."""


# --- explanations ---------------------------------------------------------------------------
class ExplainError(RadLensError):
    """An explanation could not be computed as asked."""


class UnknownMethodError(ExplainError):
    """No explanation method of that name is registered."""


class UnknownLayerError(ExplainError):
    """The model has no module of that name, or it has no spatial output."""


class UnknownClassError(ExplainError):
    """A requested class is not one of the model's classes."""


class ShapeError(RadLensError):
    """An array has a shape the function cannot take.

    Args:
        what: Name of the argument.
        actual: Its shape.
        expected: A description of the shapes accepted.
    """

    def __init__(self, what: str, actual: tuple[int, ...], expected: str) -> None:
        self.actual = tuple(actual)
        self.expected = expected
        super().__init__(f"{what} has shape {self.actual}; expected {expected}.")


class CancelledError(RadLensError):
    """Long work was cancelled by its caller."""
