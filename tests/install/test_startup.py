"""Start-up that explains itself (issue #18): a missing xcb library or display is reported with the
packages to install and exit code 3 (no Qt abort), through `radlens` and `make run`; a crash writes a
log; the CPU notice shows once; the version comes from pyproject.toml."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from viewer import startup

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", startup.HIDE_ENV)}
    env.update(extra)
    return env


def _ldd_not_found() -> list[str]:
    """The xcb plugin's missing libraries as ldd itself reports them (independent of the probe)."""
    plugin = startup.plugin_path("xcb")
    assert plugin is not None, "PySide6's xcb platform plugin is not installed"
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def _radlens_view(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from viewer.cli import main; sys.exit(main(['view']))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)


def test_hidden_library_is_named_with_its_apt_package_and_exit_3(tmp_path: Path) -> None:
    proc = _radlens_view(_env(DISPLAY=":97", RADLENS_PROBE_HIDE="libxcb-cursor.so.0"), tmp_path)
    assert proc.returncode == startup.EXIT_NO_DISPLAY, proc.stderr
    assert "libxcb-cursor.so.0" in proc.stderr
    apt = next(line for line in proc.stderr.splitlines() if "apt-get install" in line)
    assert "libxcb-cursor0" in apt.split()  # Debian's package for libxcb-cursor.so.0
    for name in _ldd_not_found():  # whatever this machine really lacks is named too
        assert name in proc.stderr
    assert "qt.qpa" not in proc.stderr and "Aborted" not in proc.stderr  # Qt was never asked to start


def test_no_display_is_explained(tmp_path: Path) -> None:
    proc = _radlens_view(_env(), tmp_path)
    assert proc.returncode == startup.EXIT_NO_DISPLAY
    assert "DISPLAY is not set" in proc.stderr


def test_make_run_behaves_the_same(tmp_path: Path) -> None:
    # -o: take the venv as made (never reinstall it from a test); PYTHONPATH: this checkout's code even
    # where the venv's editable install points at another checkout
    env = _env(DISPLAY=":97", RADLENS_PROBE_HIDE="libxkbcommon-x11.so.0", HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed-stamp", "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "libxkbcommon-x11.so.0" in proc.stderr and "libxkbcommon-x11-0" in proc.stderr


def test_probe_platform_choice() -> None:
    assert startup.qt_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert startup.qt_platform({"QT_QPA_PLATFORM": "xcb;wayland"}) == "xcb"
    assert startup.qt_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}) == "wayland"
    assert startup.qt_platform({"DISPLAY": ":0"}) == "xcb"
    assert startup.check_display({"QT_QPA_PLATFORM": "offscreen"}).ok
    missing = startup.check_display({"DISPLAY": ":0", startup.HIDE_ENV: "libEGL.so.1"})
    assert "libEGL.so.1" in missing.missing and "libegl1" in missing.packages


def test_crash_writes_a_log_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import viewer.app
    from viewer.cli import main

    monkeypatch.setenv("RADLENS_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")

    def boom(path: str | None = None) -> int:
        raise RuntimeError("boom in the viewer")

    monkeypatch.setattr(viewer.app, "run", boom)
    assert main(["view"]) == 1
    logs = list((tmp_path / "logs").glob("crash-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom in the viewer" in text
    assert f"RadLens {PYPROJECT_VERSION} crashed" in text
    assert str(logs[0]) in capsys.readouterr().err


def test_crash_box_names_the_log(qapp: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from PySide6 import QtWidgets

    from viewer.app_cli import crash_box

    shown: list[str] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")  # as on a desktop (the box itself is captured)
    monkeypatch.setenv("RADLENS_LOG_DIR", str(tmp_path))
    try:
        raise ValueError("bad slot")
    except ValueError as exc:
        path = startup.report_crash(type(exc), exc, exc.__traceback__, show_box=crash_box)
    assert path is not None and path.is_file()
    assert len(shown) == 1 and str(path) in shown[0] and "ValueError: bad slot" in shown[0]


def test_cpu_notice_once(tmp_path: Path) -> None:
    from viewer.app import CPU_NOTICE, cpu_notice
    from viewer.settings import Settings

    messages: list[str] = []
    window = SimpleNamespace(show_status=lambda text, ms=0: messages.append(text))
    path = tmp_path / "settings.json"
    assert not cpu_notice(window, Settings(path), gpu=True)  # type: ignore[arg-type]
    assert cpu_notice(window, Settings(path), gpu=False)  # type: ignore[arg-type]
    assert not cpu_notice(window, Settings(path), gpu=False)  # type: ignore[arg-type]  # next start: not again
    assert messages == [CPU_NOTICE]
    assert not cpu_notice(window, Settings(tmp_path / "other.json", persist=False), gpu=False)  # type: ignore[arg-type]


def test_version_from_pyproject_everywhere(qapp: object) -> None:
    from engine.report.build import app_version
    from engine.runtime import library_versions
    from engine.version import version
    from viewer.about import about_dialog

    assert version() == PYPROJECT_VERSION
    assert library_versions()["radlens"] == PYPROJECT_VERSION  # every result's provenance
    assert app_version() == PYPROJECT_VERSION  # reports and sidecars
    from PySide6 import QtWidgets

    dialog = about_dialog(None)
    label = dialog.findChild(QtWidgets.QLabel, "about_text")
    assert label is not None and f"RadLens {PYPROJECT_VERSION}" in label.text()
    dialog.deleteLater()
