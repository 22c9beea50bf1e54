"""The RadLens plugin API: what a plugin declares, and what the host gives it.

A plugin is a Python distribution with an entry point in the group ``radlens.plugins`` that names
a :class:`PluginManifest` (``"my_plugin.manifest:MANIFEST"``). The module holding the manifest must
be light: it imports this module and nothing heavy (no Qt, no torch). Every contribution names its
code as a ``"module:attribute"`` string that the host imports on first use, so a broken or slow
plugin costs nothing until it is used, and a plugin that fails to load is listed with its error
while the app carries on. The built-in plugins register through the same entry-point group.

This module imports no Qt binding; plugins must use the host's (PySide6) and never pin another.
See ``docs/plugins.md`` for a worked example.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from engine.errors import RadLensError

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np

    from viewer.state import ViewerState

API_VERSION = 1
ENTRY_POINT_GROUP = "radlens.plugins"

DockArea = Literal["left", "right", "bottom"]


class PluginError(RadLensError):
    """A plugin could not be loaded or one of its contributions failed."""


def resolve(reference: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises:
        PluginError: The reference is malformed, the module does not import, or it has no such
            attribute. The message names the reference and the underlying error.
    """
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"Plugin reference {reference!r} is not of the form 'module:attribute'.")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plugin's import can fail in any way; report it, do not crash
        raise PluginError(f"Importing {module_name!r} for {reference!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{module_name!r} has no attribute {attr!r} (from {reference!r}).") from None
    return obj


# --- contributions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """A dock panel. ``factory`` resolves to ``callable(host: ViewerHost) -> QWidget``."""

    id: str
    title: str
    factory: str
    area: DockArea = "right"
    shortcut: str | None = None  # toggles the panel's visibility, e.g. "Ctrl+Shift+E"
    visible: bool = True  # shown on first start


@dataclass(frozen=True)
class Command:
    """A menu command. ``callback`` resolves to ``callable(host: ViewerHost) -> None``."""

    id: str
    title: str
    callback: str
    menu: str = "Tools"
    shortcut: str | None = None


@dataclass(frozen=True)
class Reader:
    """An image reader for file suffixes (lower case, with dot).

    ``loader`` resolves to ``callable(path: pathlib.Path) -> engine.io.StudyImage``.
    """

    id: str
    title: str
    suffixes: tuple[str, ...]
    loader: str


@dataclass(frozen=True)
class Exporter:
    """A "File > Export" entry. ``writer`` resolves to ``callable(host: ViewerHost, path: Path) -> None``."""

    id: str
    title: str
    suffixes: tuple[str, ...]
    writer: str


@dataclass(frozen=True)
class Explainer:
    """An explanation method. ``register`` resolves to a callable that registers the method in the
    engine's registry when first needed (``callable() -> None``)."""

    id: str
    title: str
    register: str


Contribution = Panel | Command | Reader | Exporter | Explainer


@dataclass(frozen=True)
class PluginManifest:
    """What a plugin contributes. Built from plain data only; importing it must be cheap."""

    name: str
    version: str
    contributions: tuple[Contribution, ...] = ()
    description: str = ""
    api_version: int = API_VERSION
    builtin: bool = False

    def of_type(self, kind: type) -> tuple[Any, ...]:
        return tuple(c for c in self.contributions if isinstance(c, kind))


# --- what the host gives a plugin ------------------------------------------------------------------
@dataclass(frozen=True)
class BoxStyle:
    """How a layer of boxes is drawn on the canvas."""

    color: tuple[int, int, int] = (255, 255, 0)
    width: float = 2.0
    dashed: bool = False
    label: str = ""  # text drawn at the box's top-left corner


@runtime_checkable
class CanvasLayers(Protocol):
    """Overlay layers on the main canvas, in image pixel coordinates (x right, y down).

    Each layer has a key; setting a key again replaces that layer, ``None`` removes it.
    Layers of other plugins are never touched.
    """

    def set_image_overlay(self, key: str, rgba: np.ndarray | None, z: float = 10.0) -> None:
        """Draw an ``H x W x 4`` uint8 RGBA image over the study image (same pixel grid)."""

    def set_boxes(self, key: str, boxes: list[tuple[tuple[float, float, float, float], BoxStyle]] | None) -> None:
        """Draw read-only boxes ``((x0, y0, x1, y1), style)``."""

    def set_display_override(self, key: str, display: np.ndarray | None) -> None:
        """Show ``display`` (float in [0, 1], the study image's shape) instead of the study image's
        windowed pixels, e.g. a perturbed image; ``None`` restores the image. The latest key wins."""


@runtime_checkable
class PluginSettings(Protocol):
    """A plugin's own namespace in the app's settings file (JSON-able values only)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


@runtime_checkable
class ViewerHost(Protocol):
    """What every plugin callable receives.

    Attributes:
        state: The viewer's observable state (current image, annotations, user boxes, model,
            explanation, selected class...). See :class:`viewer.state.ViewerState`.
        canvas: The main canvas's overlay layers.
        settings: This plugin's settings namespace.
    """

    state: ViewerState
    canvas: CanvasLayers
    settings: PluginSettings

    def main_window(self) -> Any:
        """The QMainWindow, as parent for dialogs."""

    def show_error(self, title: str, message: str) -> None:
        """Show an error to the user (a dialog, and the status bar/log); never raises."""

    def show_status(self, message: str, timeout_ms: int = 5000) -> None: ...


@dataclass
class LoadedPlugin:
    """A discovered plugin: its manifest, or the error that stopped it."""

    entry_point: str
    manifest: PluginManifest | None = None
    error: str | None = None
    contribution_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None


Factory = Callable[..., Any]
