"""The opening controller on its own collaborators (no main window): a folder scan opens its first
image, then the one the user had open last; errors go to the messages; the model loads in the job
runner."""

from __future__ import annotations

from pathlib import Path

import pytest


class Messages:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.statuses: list[str] = []

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def show_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.statuses.append(message)


@pytest.fixture()
def controller(qtbot, tmp_path, demo_copy):
    from PySide6 import QtWidgets

    from viewer.canvas import Canvas
    from viewer.opening import OpeningController
    from viewer.session import Session
    from viewer.settings import Settings
    from viewer.state import ViewerState
    from viewer.status_bar import StatusBar
    from viewer.study_browser import StudyBrowser
    from viewer.worker import TaskRunner

    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    state = ViewerState()
    canvas = Canvas(parent, state)
    jobs = TaskRunner(parent)
    messages = Messages()
    c = OpeningController(parent, state, Session(state), Settings(tmp_path / "settings.json"), jobs,
                          StudyBrowser(jobs), canvas.corners, StatusBar(parent), messages)
    c.browser.scanned.connect(c.on_scanned)
    yield c
    jobs.shutdown(5000)
    assert jobs.running_threads() == 0


def test_a_folder_opens_its_first_image_then_the_last_one_used(qtbot, controller, demo_copy: Path):
    c = controller
    c.open_path(demo_copy)
    qtbot.waitUntil(lambda: c.state.image is not None, timeout=15000)
    paths = c.browser.image_paths()
    assert len(paths) == 6 and Path(c.state.image_path).resolve() == paths[0]
    assert c.settings["last_path"] == str(demo_copy) and c.parent.windowTitle().startswith(paths[0].name)
    assert c.corners.labels["top_right"].text().endswith(f"Image 1/{len(paths)}")
    c.step_image(2)
    assert Path(c.state.image_path).resolve() == paths[2]
    c.open_path(demo_copy)  # again: the image the user had open last
    qtbot.waitUntil(lambda: not c.pending_open, timeout=15000)
    assert Path(c.state.image_path).resolve() == paths[2] and c.messages.errors == []


def test_errors_go_to_the_messages(qtbot, controller, tmp_path):
    c = controller
    c.open_path(tmp_path / "missing")
    assert c.messages.errors == [("Open", f"{tmp_path / 'missing'} does not exist.")]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert c.open_image(bad) is False and c.messages.errors[-1][0] == "Cannot open image"
    c.load_model(str(tmp_path / "no_bundle"))
    assert c.model_loading
    qtbot.waitUntil(lambda: not c.model_loading, timeout=15000)
    assert c.messages.errors[-1][0] == "Model" and c.state.model is None
