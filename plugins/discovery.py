"""Find plugins: entry points of the group ``radlens.plugins``, each naming a manifest.

Qt-free. Discovery never raises for a bad plugin: each entry point becomes a
:class:`plugins.api.LoadedPlugin` holding its manifest or the error that stopped it (import
error, an object that is not a :class:`PluginManifest`, an API version this host does not speak,
duplicate or malformed contribution ids). Only the manifest module is imported here; the code of
the contributions is imported on first use (:func:`plugins.api.resolve`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import traceback
from collections.abc import Iterable

from plugins.api import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    Command,
    Explainer,
    Exporter,
    LoadedPlugin,
    Panel,
    PluginManifest,
    Reader,
)

log = logging.getLogger(__name__)


def validate(manifest: object) -> str | None:
    """Why ``manifest`` is unusable, or None when it is fine."""
    if not isinstance(manifest, PluginManifest):
        return f"the entry point names a {type(manifest).__name__}, not a plugins.api.PluginManifest"
    if manifest.api_version != API_VERSION:
        return f"plugin API version {manifest.api_version} is not supported (this RadLens speaks {API_VERSION})"
    if not manifest.name:
        return "the manifest has no name"
    seen: set[str] = set()
    for c in manifest.contributions:
        if not isinstance(c, Panel | Command | Reader | Exporter | Explainer):
            return f"contribution {c!r} is not a Panel, Command, Reader, Exporter or Explainer"
        if not c.id or c.id in seen:
            return f"contribution id {c.id!r} is empty or used twice"
        seen.add(c.id)
        ref = getattr(c, "factory", None) or getattr(c, "callback", None) or getattr(c, "loader", None) or \
            getattr(c, "writer", None) or getattr(c, "register", None)
        if not isinstance(ref, str) or ref.count(":") != 1:
            return f"contribution {c.id!r} names its code as {ref!r}, not 'module:attribute'"
    return None


def load_entry_point(ep: importlib.metadata.EntryPoint) -> LoadedPlugin:
    """Import one entry point's manifest; errors are captured, never raised."""
    loaded = LoadedPlugin(entry_point=f"{ep.name} = {ep.value}")
    try:
        manifest = ep.load()
    except BaseException as exc:  # a plugin's import can fail in any way (even SystemExit)
        if isinstance(exc, KeyboardInterrupt):
            raise
        loaded.error = f"import failed: {type(exc).__name__}: {exc}"
        log.warning("plugin %s: %s", ep.name, loaded.error)
        log.debug("%s", traceback.format_exc())
        return loaded
    problem = validate(manifest)
    if problem:
        loaded.error = problem
        log.warning("plugin %s: %s", ep.name, problem)
        return loaded
    loaded.manifest = manifest
    return loaded


def entry_points() -> list[importlib.metadata.EntryPoint]:
    """The entry points of the group, deduplicated by (name, value), in a stable order."""
    seen: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault((ep.name, ep.value), ep)
    return sorted(seen.values(), key=lambda e: (e.name, e.value))


def discover(extra: Iterable[importlib.metadata.EntryPoint] = ()) -> list[LoadedPlugin]:
    """Load every plugin manifest; plugins whose manifest name repeats an earlier one fail."""
    plugins: list[LoadedPlugin] = []
    names: set[str] = set()
    for ep in [*entry_points(), *extra]:
        loaded = load_entry_point(ep)
        if loaded.manifest is not None:
            if loaded.manifest.name in names:
                loaded.error = f"another plugin is already called {loaded.manifest.name!r}"
                loaded.manifest = None
            else:
                names.add(loaded.manifest.name)
        plugins.append(loaded)
    return plugins
