"""Plugins installed for real (a *.dist-info with entry_points.txt on sys.path): discovery, lazy
loading, failures listed in Help > Plugins while the app carries on."""

from __future__ import annotations

import sys
import textwrap

import pytest
from PySide6 import QtWidgets

from plugins.api import ENTRY_POINT_GROUP
from plugins.discovery import discover

GOOD_MANIFEST = '''
from plugins.api import Command, Exporter, Panel, PluginManifest, Reader
MANIFEST = PluginManifest(
    name="hello", version="2.1",
    contributions=(
        Panel(id="hello.panel", title="Hello", factory="rl_hello.panel:make", area="right", shortcut="Ctrl+Alt+H"),
        Panel(id="hello.hidden", title="Hidden hello", factory="rl_hello.panel:make_hidden", visible=False),
        Command(id="hello.say", title="Say hello", callback="rl_hello.panel:say", menu="Hello", shortcut="Ctrl+Alt+S"),
        Reader(id="hello.reader", title="Hello images", suffixes=(".hello",), loader="rl_hello.io:load"),
        Exporter(id="hello.export", title="Export hello", suffixes=(".txt",), writer="rl_hello.io:export"),
    ),
)
'''
GOOD_PANEL = '''
from PySide6.QtWidgets import QLabel
CREATED = []
def make(host):
    CREATED.append("panel")
    label = QLabel("hello " + str(host.state.image_path))
    host.settings.set("opened", True)
    return label
def make_hidden(host):
    CREATED.append("hidden")
    return QLabel("hidden")
def say(host):
    host.show_status("hello from a plugin")
    host.canvas.set_boxes("hello", [((1, 2, 30, 40), __import__("plugins.api").api.BoxStyle(label="hi"))])
'''
GOOD_IO = '''
import numpy as np
from engine.io import Window
from engine.io.model import make_image
def load(path):
    raw = np.full((20, 30), float(path.read_text()), np.float32)
    return make_image(raw=raw, path=path, kind="raster", window=Window(50, 100), windows=(Window(50, 100),))
def export(host, path):
    path.write_text(str(len(host.state.user_boxes.boxes)))
'''
FACTORY_RAISES = '''
from plugins.api import Command, Panel, PluginManifest
def make(host):
    raise RuntimeError("factory exploded")
def boom(host):
    raise ValueError("command exploded")
MANIFEST = PluginManifest(name="exploding", version="0.1", contributions=(
    Panel(id="exploding.panel", title="Exploding", factory="rl_exploding:make"),
    Command(id="exploding.run", title="Explode", callback="rl_exploding:boom"),
))
'''


@pytest.fixture()
def installed(tmp_path, monkeypatch):
    """A distribution 'rl-test-plugins' with three entry points, installed on sys.path."""
    site = tmp_path / "site"
    dist = site / "rl_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rl-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [{ENTRY_POINT_GROUP}]
        hello = rl_hello.manifest:MANIFEST
        broken = rl_broken:MANIFEST
        exploding = rl_exploding:MANIFEST
        notamanifest = rl_exploding:make
        """))
    (site / "rl_hello").mkdir()
    (site / "rl_hello" / "__init__.py").write_text("")
    (site / "rl_hello" / "manifest.py").write_text(GOOD_MANIFEST)
    (site / "rl_hello" / "panel.py").write_text(GOOD_PANEL)
    (site / "rl_hello" / "io.py").write_text(GOOD_IO)
    (site / "rl_broken.py").write_text("raise ImportError('this plugin needs libfoo')\n")
    (site / "rl_exploding.py").write_text(FACTORY_RAISES)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("rl_hello", "rl_hello.manifest", "rl_hello.panel", "rl_broken", "rl_exploding"):
        sys.modules.pop(name, None)


def _ours(plugins):
    return [p for p in plugins if p.entry_point.split(" = ")[0] in ("hello", "broken", "exploding", "notamanifest")]


def _cell(table: QtWidgets.QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None, (row, column)
    return item.text()


def test_discovery_reports_each_plugin_without_importing_contributions(installed):
    plugins = discover()
    names = {p.entry_point.split(" = ")[0]: p for p in plugins}
    assert {"explanation", "perturbation", "report"} <= set(names)  # the built-ins, ok or failed
    hello = names["hello"].manifest
    assert names["hello"].ok and hello is not None and hello.version == "2.1"
    assert "rl_hello.panel" not in sys.modules  # contributions are imported on first use
    broken = names["broken"].error
    assert broken is not None and "ImportError" in broken and "libfoo" in broken
    assert names["exploding"].ok
    notamanifest = names["notamanifest"].error
    assert notamanifest is not None and "not a plugins.api.PluginManifest" in notamanifest


def test_panels_commands_and_failures_in_the_app(installed, qtbot, settings_path, demo_copy):
    from viewer.app import create_window

    window = create_window(str(demo_copy), plugins=_ours(discover()), load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    host = window.host
    # the third-party panel appeared, with objectName = its id; the hidden one is not created yet
    panel = window.findChild(QtWidgets.QLabel, "hello.panel")
    assert panel is not None and panel.text().startswith("hello")
    created = sys.modules["rl_hello.panel"].CREATED
    assert created == ["panel"]
    host.docks["hello.hidden"].show()
    qtbot.waitUntil(lambda: created == ["panel", "hidden"], timeout=2000)
    assert window.settings.plugin("hello") == {"opened": True}
    # its command runs through the menu action and by id
    assert host.commands["hello.say"][2].shortcut().toString() == "Ctrl+Alt+S"
    assert host.run_command("hello.say")
    assert "hello" in window.canvas.layer_keys()["boxes"]
    # the failures are listed with their errors, and the app carries on
    assert not host.run_command("exploding.run")
    failures = dict(host.failures())
    text = " ".join(f"{k} {v}" for k, v in failures.items())
    assert "libfoo" in text and "factory exploded" in text and "command exploded" in text
    dialog = window.show_plugins()
    table = dialog.findChild(QtWidgets.QTableWidget, "plugins_table")
    assert table is not None
    rows = {_cell(table, r, 0): _cell(table, r, 2) for r in range(table.rowCount())}
    assert rows["hello"] == "loaded" and rows["exploding"] == "loaded with errors"
    assert "failed" in rows.values()
    dialog.close()
    window.set_tool("box")
    window.layer.add_box((10.0, 10.0, 50.0, 50.0))
    assert len(window.state.user_boxes.boxes) == 1
    with pytest.raises(Exception, match="No loaded plugin provides"):
        host.run_command("no.such.command")
    # the reader and the exporter are imported on first use
    assert "rl_hello.io" not in sys.modules
    host.run_exporter("hello.export", demo_copy / "n.txt")
    assert (demo_copy / "n.txt").read_text() == "1"
    (demo_copy / "x.hello").write_text("42")
    assert window.open_image(demo_copy / "x.hello")
    image = window.state.image
    assert image is not None and image.shape == (20, 30) and window.canvas.pixel_value(3, 4) == 42.0
    window.close()
