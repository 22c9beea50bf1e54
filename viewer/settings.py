"""The viewer's settings: one versioned JSON file, defaults in one dict, atomic writes.

The file lives at ``$RADLENS_SETTINGS`` when that variable is set (tests point it at a temporary
folder), else ``~/.config/radlens/settings.json`` (``$XDG_CONFIG_HOME`` respected). Document::

    {"schema_version": 2, "last_path": ..., "model": "default", ..., "plugins": {"name": {...}}}

Rules:

* :data:`DEFAULTS` holds every known key with its default; a key not in it is dropped with a
  warning (and the file is rewritten without it on the next save).
* A value of the wrong type is replaced by its default, with a warning.
* An older ``schema_version`` is migrated by :data:`MIGRATIONS`; a newer one, a file that is not
  JSON, or not an object: the file is copied to ``settings.json.bak`` and defaults are used.
  Loading never raises.
* Saving goes through :func:`engine.atomic.atomic_write_text`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
ENV_VAR = "RADLENS_SETTINGS"

#: Every setting and its default. ``None`` means "not set yet" (any type accepted later).
DEFAULTS: dict[str, Any] = {
    "last_path": None,  # file or folder opened last (None: the demo study on first run)
    "last_file": None,  # image shown last inside last_path
    "annotations_path": None,  # ground-truth file used with last_path (None: auto / demo train.csv)
    "model": "default",  # model loaded at start when no plugin panel loads one ("default" or a folder)
    "box_class": None,  # class last used by the box tool
    "tool": "pan",  # pan | box | ruler
    "hidden_classes": [],
    "hidden_annotators": [],
    "window_geometry": None,  # hex of QMainWindow.saveGeometry()
    "window_state": None,  # hex of QMainWindow.saveState()
    "cpu_notice_shown": False,  # the once-only "explanations run on the CPU" status message was shown
    "plugins": {},  # plugin name -> its own namespace (JSON values): method, colour map, opacity...
}

#: schema version -> function turning a document of that version into the next version.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: lambda doc: {**{k: v for k, v in doc.items() if k != "last_folder"}, "last_path": doc.get("last_folder")},
    # 2: a new default dock layout (every plugin panel a tab of the right column, the image full
    # height); a dock arrangement saved before it would keep the bottom panel squeezing the image.
    1: lambda doc: {k: v for k, v in doc.items() if k != "window_state"},
}


def default_path() -> Path:
    """Where the settings file is: ``$RADLENS_SETTINGS`` or the user's config folder."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "radlens" / "settings.json"


def _type_ok(key: str, value: Any) -> bool:
    default = DEFAULTS[key]
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(default))


class Settings:
    """The loaded settings; read with ``settings[key]``, change with ``settings[key] = v``.

    Args:
        path: The file; default :func:`default_path`.
        persist: False makes :meth:`save` a no-op (the screenshot mode leaves the user's file alone).

    Attributes:
        warnings: What was wrong with the file when it was loaded (empty when all was well).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, persist: bool = True) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.persist = persist
        self.warnings: list[str] = []
        self._values: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self._load()

    # --- access -----------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}; known: {', '.join(sorted(DEFAULTS))}")
        if not _type_ok(key, value):
            raise TypeError(f"setting {key!r} must be like {DEFAULTS[key]!r}, not {value!r}")
        json.dumps(value)  # JSON-able or TypeError now rather than at save time
        self._values[key] = copy.deepcopy(value)

    def as_dict(self) -> dict[str, Any]:
        """A copy of every value, with ``schema_version``."""
        return {"schema_version": SCHEMA_VERSION, **copy.deepcopy(self._values)}

    def plugin(self, name: str) -> dict[str, Any]:
        """The (mutable) namespace of plugin ``name``; created empty on first use."""
        return self._values["plugins"].setdefault(name, {})

    # --- files ----------------------------------------------------------------------------------
    def save(self) -> Path:
        """Write the settings atomically (unless ``persist`` is False); returns the path."""
        if not self.persist:
            return self.path
        atomic_write_text(self.path, json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n")
        return self.path

    def _warn(self, message: str) -> None:
        log.warning("%s: %s", self.path, message)
        self.warnings.append(message)

    def _backup(self) -> None:
        try:
            shutil.copy2(self.path, self.path.with_name(self.path.name + ".bak"))
        except OSError as exc:
            self._warn(f"could not keep a backup copy ({exc})")

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("the file does not hold a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self._backup()
            self._warn(f"settings file unreadable ({exc}); using defaults, old file kept as .bak")
            return
        version = doc.pop("schema_version", 0)
        if not isinstance(version, int) or version > SCHEMA_VERSION or version < 0:
            self._backup()
            self._warn(f"settings schema_version {version!r} unknown; using defaults, old file kept as .bak")
            return
        while version < SCHEMA_VERSION:
            doc = MIGRATIONS[version](doc)
            version += 1
        for key, value in doc.items():
            if key not in DEFAULTS:
                self._warn(f"unknown setting {key!r} ignored")
            elif not _type_ok(key, value):
                self._warn(f"setting {key!r}={value!r} has the wrong type; default used")
            else:
                self._values[key] = value
