"""The default dock layout leaves the image most of the window (first start and screenshots)."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from plugins.api import LoadedPlugin, Panel, PluginManifest

PANELS = PluginManifest(name="layout-test", version="1", contributions=(
    Panel(id="explanation", title="Right one", factory="viewer_helpers:make_panel", area="right"),
    Panel(id="other.right", title="Right two", factory="viewer_helpers:make_panel", area="right"),
    Panel(id="other.bottom", title="Bottom", factory="viewer_helpers:make_panel", area="bottom"),
))


@pytest.fixture()
def laid_out(qtbot, settings_path, demo_copy):
    from viewer.app import create_window

    window = create_window(str(demo_copy), plugins=[LoadedPlugin("layout-test", PANELS)], load_model=False)
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    window.arrange_docks()
    qtbot.wait(50)
    yield window
    window.close()


def _in_front(dock) -> bool:
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def test_the_image_keeps_most_of_the_window(laid_out):
    w = laid_out
    right, right2, bottom = (w.host.docks[k] for k in ("explanation", "other.right", "other.bottom"))
    # the image keeps the full height: no panel below it; the side columns run the full height too
    assert w.canvas.height() >= 0.85 * w.height()
    assert right.height() >= 0.85 * w.height() and w.docks["study"].width() <= 320
    assert w.canvas.width() >= 0.5 * w.width()
    # every plugin panel (the bottom one too) and the tag browser are tabs of one right-hand column,
    # the explanation in front
    assert {right2, bottom} <= set(w.tabifiedDockWidgets(right))
    assert _in_front(right) and not _in_front(right2) and not _in_front(bottom)


def test_showing_the_tag_browser_brings_its_tab_to_the_front_and_hiding_restores(laid_out, qtbot):
    w = laid_out
    right, tags = w.host.docks["explanation"], w.docks["tags"]
    w.toggle_dock("tags")
    qtbot.waitUntil(lambda: _in_front(tags), timeout=2000)
    assert not _in_front(right) and tags in w.tabifiedDockWidgets(right)
    qtbot.waitUntil(lambda: w.tags.tree.topLevelItemCount() > 5, timeout=3000)
    first = w.tags.tree.topLevelItem(1)
    width = w.tags.tree.fontMetrics().horizontalAdvance(first.text(0))
    assert w.tags.tree.columnWidth(0) > width + w.tags.tree.indentation()  # tags are never cut off
    w.toggle_dock("tags")
    qtbot.waitUntil(lambda: _in_front(right), timeout=2000)
    assert tags.isHidden()


def test_default_panel_layout_puts_moved_and_floating_docks_back(laid_out, qtbot):
    w = laid_out
    area = QtCore.Qt.DockWidgetArea
    right, bottom, study = w.host.docks["explanation"], w.host.docks["other.bottom"], w.docks["study"]
    w.addDockWidget(area.BottomDockWidgetArea, study)  # the user dragged docks around
    w.addDockWidget(area.LeftDockWidgetArea, bottom)
    right.setFloating(True)
    qtbot.wait(20)
    assert w.dockWidgetArea(study) == area.BottomDockWidgetArea and right.isFloating()
    w.actions_by_id["reset_layout"].trigger()
    qtbot.wait(50)
    assert w.dockWidgetArea(study) == area.LeftDockWidgetArea and not right.isFloating()
    assert bottom in w.tabifiedDockWidgets(right)
    assert w.dockWidgetArea(right) == area.RightDockWidgetArea and _in_front(right)
    assert w.docks["tags"].isHidden()
    assert w.canvas.height() >= 0.85 * w.height()


def test_without_a_right_hand_panel_a_bottom_panel_stays_low(qtbot, settings_path, demo_copy):
    from viewer.app import create_window

    only_bottom = PluginManifest(name="bottom-only", version="1", contributions=(
        Panel(id="other.bottom", title="Bottom", factory="viewer_helpers:make_panel", area="bottom"),))
    w = create_window(str(demo_copy), plugins=[LoadedPlugin("bottom-only", only_bottom)], load_model=False)
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    w.arrange_docks()
    qtbot.wait(50)
    bottom = w.host.docks["other.bottom"]
    assert w.dockWidgetArea(bottom) == QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
    assert bottom.height() <= w.height() // 6 + 40 and w.canvas.height() >= 0.7 * w.height()
    w.close()


def test_view_menu_lists_each_panel_once_under_panels(laid_out):
    w = laid_out
    view = w.menu("View")
    texts = [a.text() for a in view.actions()]
    assert texts.count("DICOM tags") == 1 and "Default panel layout" in texts
    panels = w.findChild(QtWidgets.QMenu, "menu:Panels")
    assert [a.text() for a in panels.actions()] == ["Study", "Annotations", "Right one", "Right two", "Bottom"]
