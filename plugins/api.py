"""The RadLens plugin API: what a plugin declares, and what the host gives it.

A plugin is a Python distribution with an entry point in the group ``radlens.plugins`` that names
a :class:`PluginManifest` (``"my_plugin.manifest:MANIFEST"``). The module holding the manifest must
be light: it imports this module and nothing heavy (no Qt, no torch). Every contribution names its
code as a ``"module:attribute"`` string that the host imports on first use, so a broken or slow
plugin costs nothing until it is used, and a plugin that fails to load is listed with its error
while the app carries on. The built-in plugins register through the same entry-point group.

The host (implemented by the viewer, :mod:`viewer.plugin_host`) is described here by Protocols:
:class:`ViewerHost` and what it hands out (:class:`HostState`, :class:`OverlayDisplay`,
:class:`CanvasLayers`, :class:`JobRunner`, :class:`PluginSettings`). A plugin imports this module,
``engine`` and Qt, never ``viewer``.

This module imports no Qt binding at run time; plugins must use the host's (PySide6) and never pin
another. See ``docs/plugins.md`` for a worked example.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from engine.errors import RadLensError
from plugins.observable import Callback, FieldValueError, Observable, Unsubscribe

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np
    from PySide6.QtCore import QObject, SignalInstance
    from PySide6.QtWidgets import QGraphicsItem, QMainWindow

    from engine.analysis import ClassLocalisation
    from engine.annotations.model import AnnotationSet
    from engine.explainers.result import ExplanationResult
    from engine.io import StudyImage, Window
    from engine.models.bundle import LoadedModel

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
Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in image pixel-edge coordinates (x right, y down)."""


@dataclass(frozen=True)
class BoxStyle:
    """How a layer of boxes is drawn on the canvas."""

    color: tuple[int, int, int] = (255, 255, 0)
    width: float = 2.0
    dashed: bool = False
    label: str = ""  # text drawn at the box's top-left corner


StyledBox = tuple[Box, BoxStyle]

DisplayMode = Literal["outline", "heatmap", "both"]
BoxMode = Literal["all", "largest", "union"]


class OverlayDisplay(Observable):
    """How the explanation overlay draws the selected class's map: a plain observable (no Qt).

    The overlay's widgets write it and observe it, the overlay draws from it, the comparison window
    and the report read it. The viewer state carries one (``host.state.overlay``).

    Attributes:
        mode: ``"outline"`` (the calm default), ``"heatmap"`` or ``"both"``.
        colormap: Matplotlib colour map name.
        opacity: Heatmap opacity in [0, 1] (outlines are drawn at twice that, at most opaque).
        box_mode: Boxes cut from the map: ``"all"`` components, the ``"largest"``, or their ``"union"``.
        min_area: Components smaller than this many pixels give no box.
        normalisation: How explanations scale their maps (``"per_map"``, ``"shared"``, ``"raw"``).
    """

    FIELDS = ("mode", "colormap", "opacity", "box_mode", "min_area", "normalisation")

    def __init__(self) -> None:
        super().__init__()
        self.mode: DisplayMode = "outline"
        self.colormap = "jet"
        self.opacity = 0.45
        self.box_mode: BoxMode = "all"
        self.min_area = 0
        self.normalisation = "per_map"

    def validate(self, name: str, value: Any) -> None:
        """Raise :class:`plugins.observable.FieldValueError` (a ValueError) for a value the field does not allow."""
        allowed = {"mode": ("outline", "heatmap", "both"), "box_mode": ("all", "largest", "union")}
        if name in allowed and value not in allowed[name]:
            raise FieldValueError(f"{name} {value!r} is not offered.", fix=f"use one of: {', '.join(allowed[name])}.")
        if name == "opacity" and not 0.0 <= float(value) <= 1.0:
            raise FieldValueError(f"opacity {value!r} is outside [0, 1].", fix="use a value from 0 to 1.")
        if name == "min_area" and int(value) < 0:
            raise FieldValueError(f"minimum area {value!r} is negative.", fix="use 0 or more pixels.")


@runtime_checkable
class HostState(Protocol):
    """The viewer's observable state as plugins see it (implemented by ``viewer.state.ViewerState``).

    Read the attributes (read-only here: assigning one would notify nobody); observe a field with
    ``unsubscribe = state.subscribe("field", callback)``; change fields with
    ``state.update(field=value)``; edit the user's boxes only with :meth:`edit_user_boxes`
    (undoable, autosaved).
    """

    @property
    def image(self) -> StudyImage | None: ...

    @property
    def image_path(self) -> Path | str | None: ...

    @property
    def ground_truth(self) -> AnnotationSet: ...

    @property
    def user_boxes(self) -> AnnotationSet: ...

    @property
    def model(self) -> LoadedModel | None: ...

    @property
    def explanation(self) -> ExplanationResult | None: ...

    @property
    def selected_class(self) -> str | None: ...

    @property
    def threshold(self) -> str: ...

    @property
    def localisation(self) -> ClassLocalisation | None: ...

    @property
    def perturbation(self) -> dict[str, Any] | None: ...

    @property
    def window(self) -> Window | None: ...

    @property
    def invert(self) -> bool: ...

    @property
    def overlay(self) -> OverlayDisplay: ...

    def subscribe(self, field_name: str, callback: Callback) -> Unsubscribe:
        """Call ``callback(new_value)`` after ``field_name`` changes."""
        ...

    def update(self, **changes: Any) -> None:
        """Set fields and notify their subscribers."""
        ...

    def edit_user_boxes(self, after: AnnotationSet, description: str) -> None:
        """Replace the user's boxes by ``after`` as one undoable step."""
        ...


@runtime_checkable
class CanvasLayers(Protocol):
    """Overlay layers on the main canvas, in image pixel coordinates (x right, y down).

    Each layer has a key; setting a key again replaces that layer, ``None`` removes it.
    Layers of other plugins are never touched.
    """

    def set_image_overlay(self, key: str, rgba: np.ndarray | None, z: float = 10.0) -> None:
        """Draw an ``H x W x 4`` uint8 RGBA image over the study image (same pixel grid)."""

    def set_indexed_overlay(self, key: str, index: np.ndarray | None, palette: np.ndarray, z: float = 10.0) -> None:
        """Draw an ``H x W`` uint8 index image coloured by a ``256 x 4`` uint8 RGBA ``palette``
        (``palette[index]`` is what shows). Setting the same ``index`` array again with another
        palette only recolours: at 3000 x 3000 that costs what 256 colours cost, not the image."""

    def set_boxes(self, key: str, boxes: list[StyledBox] | None) -> None:
        """Draw read-only boxes ``((x0, y0, x1, y1), style)``; labels are placed so that they do not overlap."""

    def set_display_override(self, key: str, display: np.ndarray | None) -> None:
        """Show ``display`` (float in [0, 1], the study image's shape) instead of the study image's
        windowed pixels, e.g. a perturbed image; ``None`` restores the image. The latest key wins."""


@runtime_checkable
class PluginSettings(Protocol):
    """A plugin's own namespace in the app's settings file (JSON-able values only)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


T = TypeVar("T")
CancelledFn = Callable[[], bool]
ProgressFn = Callable[[float, str], None]


@runtime_checkable
class JobRunner(Protocol):
    """The app's background-job system (``host.task_runner()``): keyed, cancellable tasks.

    ``submit(key, fn, on_done, on_error, on_progress)`` runs ``fn(cancelled, progress)`` on a worker
    thread and calls ``on_done(result)``, ``on_error(exc)`` and ``on_progress(fraction, message)``
    on the GUI thread. A newer submit under the same key cancels the older task and drops whatever
    it still produces; ``serial=True`` also waits for the older task to return before starting
    (a task replaced while it waits never runs). ``fn`` polls ``cancelled()`` between steps; a
    cancelled task that raises ``engine.errors.CancelledError`` is not reported. The app shuts every
    runner down (cancel, then join its threads) when it closes.
    """

    @property
    def busyChanged(self) -> SignalInstance:
        """Emitted with ``(key, True)`` when a key gets a task and ``(key, False)`` when it has none."""
        ...

    def submit(
        self,
        key: str,
        fn: Callable[[CancelledFn, ProgressFn], T],
        on_done: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: ProgressFn | None = None,
        serial: bool = False,
    ) -> int:
        """Start ``fn``; returns the task id. Raises RuntimeError after :meth:`shutdown`."""
        ...

    def cancel(self, key: str) -> None:
        """Cancel ``key``'s task; nothing of it is delivered."""
        ...

    def is_busy(self, key: str | None = None) -> bool:
        """Whether ``key`` (or any key) has a task whose result is awaited."""
        ...

    def running_threads(self) -> int:
        """Worker threads still alive (cancelled ones that have not returned included)."""
        ...

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel every task, join their threads, accept no new work."""
        ...


@runtime_checkable
class ViewerHost(Protocol):
    """What every plugin callable receives (one per plugin; the viewer implements it).

    Attributes:
        state: The viewer's observable state (:class:`HostState`), with the overlay's display
            settings in ``state.overlay`` (:class:`OverlayDisplay`).
        canvas: The main canvas's overlay layers.
        settings: This plugin's settings namespace.
    """

    @property
    def state(self) -> HostState: ...

    @property
    def canvas(self) -> CanvasLayers: ...

    @property
    def settings(self) -> PluginSettings: ...

    def main_window(self) -> QMainWindow | None:
        """The main window, as parent for dialogs (None when there is none)."""
        ...

    def show_error(self, title: str, message: str) -> None:
        """Show an error to the user (a dialog, and the status bar/log); never raises."""
        ...

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        """A status-bar message."""
        ...

    def task_runner(self, parent: QObject | None = None) -> JobRunner:
        """A new runner of the app's job system, owned by ``parent`` (shut down with the app)."""
        ...

    def box_items(self, boxes: list[StyledBox], bounds: tuple[float, float], pixel_size: float) -> list[QGraphicsItem]:
        """Graphics items of read-only boxes for a plugin's own pyqtgraph view, drawn and labelled as
        on the canvas: labels (constant screen size; ``pixel_size`` = image pixels per screen pixel)
        are placed by ``engine.render.place_labels`` apart from each other, inside ``bounds`` =
        (width, height) of the image."""
        ...

    def class_color(self, name: str) -> tuple[int, int, int]:
        """The colour the viewer gives class ``name`` (the model's classes first)."""
        ...

    def run_command(self, command_id: str) -> bool:
        """Run any plugin's command by id; False when it failed (the error is shown)."""
        ...

    def register_explainers(self) -> None:
        """Make sure every plugin's explainer is registered in the engine."""
        ...


@runtime_checkable
class FileHost(Protocol):
    """Files a plugin brought in or wants sent (the PACS dock; an "Export to PACS…" exporter).

    The viewer's host implements it besides :class:`ViewerHost`; test for it with
    ``isinstance(host, FileHost)``.
    """

    def open_path(self, path: Path) -> None:
        """Open a file (shown at once, its folder listed in the study browser) or a folder, as File › Open does."""
        ...

    def show_folder(self, folder: Path) -> None:
        """List ``folder`` in the study browser (scanned in the background), keeping the image shown."""
        ...

    def send_files_to_pacs(self, paths: list[Path]) -> bool:
        """"Send files to PACS…": ask for the node, send ``paths`` through the outbox (see docs/pacs.md).

        False when no plugin provides the ``pacs.send_files`` command or it failed (the error is shown)."""
        ...


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
