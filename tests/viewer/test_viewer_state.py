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
    seen: list[str] = []

    def boom(_value: object) -> None:
        raise ZeroDivisionError("a broken subscriber")

    state.subscribe("threshold", boom)
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
    state.open_image(None, "path", AnnotationSet(), AnnotationSet())
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


def test_viewer_state_and_canvas_model_share_one_observable_base():
    from plugins.api import OverlayDisplay
    from plugins.observable import Observable

    assert issubclass(ViewerState, Observable) and issubclass(CanvasModel, Observable)
    assert issubclass(OverlayDisplay, Observable)


def test_window_and_inversion_are_stored_once_in_the_state():
    """The canvas model reads and writes ``state.window``/``state.invert``; a change on either side
    reaches the observers of both, once."""
    from engine.io import Window

    state = ViewerState()
    model = CanvasModel(state)
    seen_model: list[tuple[str, object]] = []
    seen_state: list[object] = []
    model.listen(lambda name, value: seen_model.append((name, value)))
    state.subscribe("window", seen_state.append)
    lung = Window(-600.0, 1500.0, "LINEAR", "LUNG", "file")
    model.set(window=lung)
    assert state.window is lung and model.window is lung
    assert seen_model == [("window", lung)] and seen_state == [lung]
    state.update(invert=True)  # from the state's side (e.g. a plugin)
    assert model.invert is True and seen_model[-1] == ("invert", True)
    assert "window" not in vars(model) and "invert" not in vars(model)  # no second copy
    other = CanvasModel()  # a canvas on its own keeps a private state
    other.set(invert=True)
    assert other.invert is True and state.invert is True and other.state is not state


def test_overlay_display_is_observable_and_validated():
    from plugins.api import OverlayDisplay

    look = OverlayDisplay()
    assert (look.mode, look.colormap, look.opacity, look.box_mode, look.min_area) == ("outline", "jet", 0.45, "all", 0)
    seen: list[tuple[str, object]] = []
    look.listen(lambda name, value: seen.append((name, value)))
    look.update(mode="heatmap", opacity=0.6)
    look.update(mode="heatmap")  # unchanged: no notification
    assert seen == [("mode", "heatmap"), ("opacity", 0.6)]
    for bad in ({"mode": "contour"}, {"box_mode": "biggest"}, {"opacity": 1.5}, {"min_area": -1}):
        with pytest.raises(ValueError):
            look.update(**bad)
    with pytest.raises(KeyError):
        look.update(colour="red")
    assert look.mode == "heatmap" and look.opacity == 0.6  # a refused update changes nothing
    from engine.errors import RadLensError

    with pytest.raises(RadLensError, match=r"Fix: use one of: outline, heatmap, both"):
        look.update(mode="contour")
    with pytest.raises(RadLensError, match=r"OverlayDisplay has no field\(s\) \['colour'\]\. Fix: use one of: mode"):
        look.update(colour="red")
    state = ViewerState()
    state.overlay.update(colormap="viridis")
    assert state.colormap == "viridis" and state.opacity == 0.45
