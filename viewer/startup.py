"""Start-up that explains itself: can Qt start here, and what a crash leaves behind. Qt-free.

:func:`check_display` runs before any QApplication exists (Qt aborts the process when its platform
plugin cannot load, with a message that names no package). For the ``xcb`` platform it needs a
display (``DISPLAY``) and the system libraries of PySide6's ``libqxcb.so``: those are found with
``ldd`` (every library the plugin needs, transitively; ``ctypes`` loading of the known names when
``ldd`` is not there), mapped to their Debian/Ubuntu packages, and reported with the exact
``apt-get install`` line. ``RADLENS_PROBE_HIDE`` (comma-separated library names) makes the probe
treat those libraries as missing: how the tests hide one.

``python -m viewer.startup --missing-packages`` prints the packages to install (one a line), what
the Linux installer uses.

A crash (an exception that escapes the app) is written with its traceback to the user's log folder
(:func:`engine.resources.user_log_dir`) and the user is told where (stderr, and a message box when
Qt is up).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

#: Exit code of ``radlens`` when Qt cannot start.
EXIT_NO_DISPLAY = 3
HIDE_ENV = "RADLENS_PROBE_HIDE"

#: Libraries Qt's xcb platform plugin needs -> the Debian/Ubuntu package that provides each.
XCB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
#: What the Linux installer checks even where ldd cannot tell (the issue's list and Qt's docs).
REQUIRED_FOR_XCB = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
                    "libxcb-render-util.so.0", "libxcb-randr.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1",
                    "libxkbcommon-x11.so.0", "libEGL.so.1", "libfontconfig.so.1", "libdbus-1.so.3")


@dataclass
class Probe:
    """What the probe found: the platform Qt will use and what stops it (empty when it can start)."""

    platform: str
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problems

    @property
    def packages(self) -> list[str]:
        return sorted({XCB_PACKAGES.get(name, name) for name in self.missing})

    def apt_line(self) -> str:
        return "sudo apt-get install -y " + " ".join(self.packages) if self.missing else ""

    def message(self) -> str:
        lines = [f"radlens: Qt cannot start its '{self.platform}' platform here."]
        lines += [f"  {p}" for p in self.problems]
        if self.missing:
            lines.append("  These system libraries are missing: " + ", ".join(self.missing))
            lines.append("Install them with:")
            lines.append(f"  {self.apt_line()}")
            lines.append("(other distributions: install the packages that provide these libraries)")
        lines.append("Without a display, RadLens's headless commands still work (radlens explain, report, study...),"
                     " and QT_QPA_PLATFORM=offscreen radlens view --screenshot out.png renders the window to a file.")
        return "\n".join(lines)


def qt_platform(env: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The platform plugin Qt will load: ``QT_QPA_PLATFORM`` (its first choice), else wayland in a
    Wayland session, else xcb (Linux), else the system's own."""
    env = os.environ if env is None else env
    chosen = (env.get("QT_QPA_PLATFORM") or "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if not sys.platform.startswith("linux"):
        return "native"
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def plugin_path(name: str = "xcb") -> Path | None:
    """PySide6's platform plugin ``libq<name>.so`` (None when PySide6 is not there)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        candidate = Path(base) / "Qt" / "plugins" / "platforms" / f"libq{name}.so"
        if candidate.is_file():
            return candidate
    return None


def _hidden(env: dict[str, str] | os._Environ[str]) -> set[str]:
    return {n.strip() for n in env.get(HIDE_ENV, "").split(",") if n.strip()}


def _ldd_missing(path: Path) -> list[str] | None:
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    missing = []
    for line in out.splitlines():
        name, _, where = line.strip().partition("=>")
        if "not found" in where:
            missing.append(name.strip())
    return list(dict.fromkeys(missing))


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_xcb_libraries(env: dict[str, str] | os._Environ[str] | None = None,
                          names: tuple[str, ...] = ()) -> list[str]:
    """System libraries the xcb platform plugin needs that are not there (plus ``RADLENS_PROBE_HIDE``'s).

    Args:
        env: The environment (default ``os.environ``).
        names: Also check these library names by loading them (the installer passes :data:`REQUIRED_FOR_XCB`).
    """
    env = os.environ if env is None else env
    plugin = plugin_path("xcb")
    from_ldd = _ldd_missing(plugin) if plugin is not None else None
    if from_ldd is None:  # no ldd (or no plugin): load the known names
        missing = [n for n in sorted(set(REQUIRED_FOR_XCB) | set(names)) if not _loadable(n)]
    else:
        missing = [*from_ldd, *(n for n in sorted(names) if n not in from_ldd and not _loadable(n))]
    missing += [n for n in sorted(_hidden(env)) if n not in missing]
    return missing


def check_display(env: dict[str, str] | os._Environ[str] | None = None) -> Probe:
    """Whether Qt can start here (see the module doc); nothing is imported from Qt."""
    env = os.environ if env is None else env
    name = qt_platform(env)
    probe = Probe(name)
    if name == "xcb":
        if not env.get("DISPLAY"):
            probe.problems.append("No X display: DISPLAY is not set (start RadLens inside a desktop session; "
                                  "over ssh use ssh -X).")
        probe.missing = missing_xcb_libraries(env)
    elif name == "wayland" and not env.get("WAYLAND_DISPLAY"):
        probe.problems.append("No Wayland display: WAYLAND_DISPLAY is not set.")
    return probe


# --- crashes ----------------------------------------------------------------------------------------------
def write_crash_log(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> Path:
    """Write the traceback, versions and command line to a new file in the user's log folder."""
    from engine.atomic import atomic_write_text
    from engine.resources import user_log_dir
    from engine.version import version

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    path = user_log_dir() / f"crash-{stamp}.log"
    text = "".join([
        f"RadLens {version()} crashed at {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}\n",
        f"python {platform.python_version()} on {platform.platform()}\n",
        f"command: {' '.join(sys.argv)}\n\n",
        *traceback.format_exception(exc_type, exc, tb),
    ])
    atomic_write_text(path, text)
    return path


def report_crash(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                 show_box: Callable[[Path, str], None] | None = None) -> Path | None:
    """Write the crash log and tell the user where it is (stderr; ``show_box`` when Qt is up)."""
    try:
        path = write_crash_log(exc_type, exc, tb)
    except Exception as log_exc:  # the log folder cannot be written: the traceback still goes to stderr
        traceback.print_exception(exc_type, exc, tb)
        print(f"radlens: RadLens crashed and the crash log could not be written ({log_exc}).", file=sys.stderr)
        return None
    print(f"radlens: RadLens crashed: {exc_type.__name__}: {exc}\nThe crash log with the traceback is at {path}\n"
          "Please attach it when you report the problem.", file=sys.stderr)
    if show_box is not None:
        try:
            show_box(path, f"{exc_type.__name__}: {exc}")
        except Exception:  # a box that cannot show must not hide the log
            pass
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m viewer.startup [--missing-packages]``: print the probe (installer helper)."""
    args = sys.argv[1:] if argv is None else argv
    env = dict(os.environ)
    if "--missing-packages" in args:
        missing = missing_xcb_libraries(env, names=REQUIRED_FOR_XCB)
        for pkg in sorted({XCB_PACKAGES.get(n, n) for n in missing}):
            print(pkg)
        return 0
    probe = check_display(env)
    print("ok" if probe.ok else probe.message())
    return 0 if probe.ok else EXIT_NO_DISPLAY


if __name__ == "__main__":
    raise SystemExit(main())
