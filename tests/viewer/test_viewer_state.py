"""ViewerState without widgets: subscriptions, undo/redo of the user's boxes, the canvas model."""

from __future__ import annotations

import pytest

from engine.annotations import AnnotationSet, BoxAnnotation, Source
from viewer.canvas_model import CanvasModel
from viewer.state import ViewerState


def _box(x: float, name: str = "Nodule/Mass") -> BoxAnnotation:
    return BoxAnnotation(name, x, 0, x + 10, 10, annotator="me", source=Source.USER)


def test_subscribers_see_only_real_changes_in_order():
    state = ViewerState()
    seen: list[tuple[str, object]] = []
    state.subscribe("selected_class", lambda v: seen.append(("a", v)))
    unsubscribe = state.subscribe("selected_class", lambda v: seen.append(("b", v)))
    state.update(selected_class="Cardiomegaly")
    state.update(selected_class="Cardiomegaly")  # unchanged: no call
    unsubscribe()
    state.update(selected_class=None)
    assert seen == [("a", "Cardiomegaly"), ("b", "Cardiomegaly"), ("a", None)]
    with pytest.raises(KeyError):
        state.subscribe("nope", print)
    with pytest.raises(KeyError):
        state.update(nope=1)


def test_a_failing_subscriber_does_not_stop_the_others():
    state = ViewerState()
    seen = []
    state.subscribe("threshold", lambda v: 1 / 0)
    state.subscribe("threshold", seen.append)
    state.update(threshold="otsu")
    assert seen == ["otsu"]


def test_undo_redo_of_box_edits():
    state = ViewerState()
    changes = []
    state.subscribe("user_boxes", lambda s: changes.append(len(s.boxes)))
    a, b = _box(0), _box(20)
    state.edit_user_boxes(state.user_boxes.added(a), "Draw a")
    state.edit_user_boxes(state.user_boxes.added(b), "Draw b")
    assert state.undo_text() == "Draw b" and not state.can_redo()
    assert state.undo() and [x.id for x in state.user_boxes] == [a.id]
    assert state.redo_text() == "Draw b"
    assert state.undo() and state.user_boxes.boxes == ()
    assert not state.undo()
    assert state.redo() and [x.id for x in state.user_boxes] == [a.id]
    state.edit_user_boxes(state.user_boxes.replaced(a.moved(5, 0)), "Move a")  # a new edit clears redo
    assert not state.can_redo()
    assert changes == [1, 2, 1, 0, 1, 1]
    state.edit_user_boxes(state.user_boxes, "nothing")  # no-op edits are not recorded
    assert state.undo_text() == "Move a"


def test_opening_an_image_clears_history_and_results():
    state = ViewerState()
    state.edit_user_boxes(state.user_boxes.added(_box(0)), "Draw")
    state.update(explanation=object(), perturbation={"x": 1})
    state.open_image("img", "path", AnnotationSet(), AnnotationSet())
    assert not state.can_undo() and state.explanation is None and state.perturbation is None


def test_canvas_model_notifies_and_validates():
    model = CanvasModel()
    seen = []
    model.listen(lambda name, value: seen.append((name, value)))
    model.set(tool="box", invert=True)
    model.set(tool="box")
    assert seen == [("tool", "box"), ("invert", True)]
    with pytest.raises(ValueError):
        model.set(tool="lasso")
    with pytest.raises(KeyError):
        model.set(zoom=2)
