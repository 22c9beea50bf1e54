"""The review gallery's thumbnails and maps: computed off the GUI thread, cached (no Qt here).

The store keeps per-image figures, not maps, so the gallery explains the images it shows again,
with the method, layer and parameters of the chosen study explanation (:func:`engine.explain`,
every class at once so that switching the class needs no new run). :meth:`MapCache.compute` runs
on the viewer's :class:`viewer.worker.TaskRunner` for the visible thumbnails only; the caches are
shared with the GUI thread under a lock. Thumbnails are H x W x 3 uint8 arrays (the GUI turns them
into pixmaps); the map is blended over the image with :func:`engine.render.blend_heatmap`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.errors import CancelledError
from engine.render import blend_heatmap, to_rgb
from training.study.errors import StudyError
from training.study.review import Explanation, StudyReview

if TYPE_CHECKING:
    from engine.explainers.result import ExplanationResult
    from engine.io import StudyImage
    from engine.models.bundle import LoadedModel

THUMB = 128  # longest side of a thumbnail, screen pixels
RESULTS_KEPT = 64  # explanation results kept (a SmoothGrad result holds input-sized maps)
IMAGES_KEPT = 8  # decoded images kept (the explanations of one image share its decode)
THUMBS_KEPT = 4000  # thumbnails kept, plain and with maps (about 50 kB each); the oldest go first


@dataclass(frozen=True)
class MapRequest:
    """One gallery cell to draw: an image's class under one explanation."""

    image: str
    explanation: Explanation
    cls: str


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float array to ``size`` = (width, height)."""
    return np.asarray(Image.fromarray(np.asarray(a, np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))


def thumb_size(shape: tuple[int, ...], longest: int = THUMB) -> tuple[int, int]:
    """(width, height) of a thumbnail of an image of ``shape`` (H, W, ...): longest side ``longest``."""
    h, w = shape[:2]
    s = longest / max(h, w)
    return max(1, round(w * s)), max(1, round(h * s))


def plain_thumbnail(display: np.ndarray, longest: int = THUMB) -> np.ndarray:
    """The image as an RGB uint8 thumbnail (bilinear, per channel)."""
    d = np.asarray(display, np.float32)
    size = thumb_size(d.shape, longest)
    if d.ndim == 2:
        return to_rgb(_resize(d, size))
    return to_rgb(np.stack([_resize(d[..., c], size) for c in range(3)], axis=2))


def map_thumbnail(display: np.ndarray, heat: np.ndarray, longest: int = THUMB, alpha: float = 0.45) -> np.ndarray:
    """A class map (image pixels, [0, 1]) blended over the image's thumbnail (jet, constant opacity)."""
    d = np.asarray(display, np.float32)
    size = thumb_size(d.shape, longest)
    small = _resize(d, size) if d.ndim == 2 else np.stack([_resize(d[..., c], size) for c in range(3)], axis=2)
    return blend_heatmap(small, _resize(heat, size), alpha=alpha)


class MapCache:
    """Models, decoded images, explanation results and thumbnails of one study, thread-safe.

    Args:
        review: The study (model bundles, data folder).
        longest: Thumbnail size.
    """

    def __init__(self, review: StudyReview, longest: int = THUMB) -> None:
        self.review = review
        self.longest = longest
        self._lock = threading.Lock()
        self._models: dict[str, LoadedModel] = {}
        self._images: OrderedDict[str, StudyImage] = OrderedDict()
        self._results: OrderedDict[tuple[str, tuple[str, ...]], ExplanationResult] = OrderedDict()
        self._plain: OrderedDict[str, np.ndarray] = OrderedDict()
        self._maps: OrderedDict[tuple[str, tuple[str, ...], str], np.ndarray] = OrderedDict()
        self.errors: dict[str, str] = {}  # image -> why it could not be read
        self.map_errors: dict[tuple[str, tuple[str, ...]], str] = {}  # (image, explanation) -> why no map

    # --- reading (GUI thread) -------------------------------------------------------------------------
    def plain(self, image: str) -> np.ndarray | None:
        """The image's thumbnail, or None while it is not made."""
        with self._lock:
            return self._plain.get(image)

    def overlay(self, request: MapRequest) -> np.ndarray | None:
        """The cell's map over the thumbnail, or None while it is not ready."""
        with self._lock:
            return self._maps.get((request.image, request.explanation.key, request.cls))

    def result(self, image: str, explanation: Explanation) -> ExplanationResult | None:
        """The cached explanation of an image, or None."""
        with self._lock:
            return self._results.get((image, explanation.key))

    def missing(self, requests: Sequence[MapRequest]) -> list[MapRequest]:
        """The requests whose map is not cached yet (and whose image has not failed)."""
        with self._lock:
            return [r for r in requests if (r.image, r.explanation.key, r.cls) not in self._maps
                    and r.image not in self.errors and (r.image, r.explanation.key) not in self.map_errors]

    def failure(self, request: MapRequest) -> str | None:
        """Why the cell has no map (its image is unreadable, or the explanation failed), or None."""
        with self._lock:
            return self.errors.get(request.image) or self.map_errors.get((request.image, request.explanation.key))

    # --- computing (worker thread) ----------------------------------------------------------------------
    def model(self, sha256: str) -> LoadedModel:
        """The study's model with these weights, loaded once.

        Raises:
            StudyError: The bundle is gone or its weights are not the ones the study ran.
        """
        with self._lock:
            cached = self._models.get(sha256)
        if cached is not None:
            return cached
        from engine.models.bundle import load_model

        spec = self.review.model(sha256)
        model = load_model(spec.path, device="auto")
        if model.weights_sha256 != sha256:
            raise StudyError(f"the bundle's weights changed since the study ran (SHA-256 {model.weights_sha256[:12]}…"
                             f" instead of {sha256[:12]}…).", path=spec.path,
                             fix="restore the bundle the study used, or run the study again with this one.")
        with self._lock:
            self._models.setdefault(sha256, model)
            return self._models[sha256]

    def study_image(self, image: str) -> StudyImage:
        """The decoded image (a few are kept)."""
        from engine.io import load_image

        with self._lock:
            cached = self._images.get(image)
            if cached is not None:
                self._images.move_to_end(image)
                return cached
        loaded = load_image(self.review.path_of(image))
        with self._lock:
            self._images[image] = loaded
            while len(self._images) > IMAGES_KEPT:
                self._images.popitem(last=False)
        return loaded

    def explain(self, image: str, explanation: Explanation, cancelled: Callable[[], bool] | None = None
                ) -> ExplanationResult:
        """The explanation of ``image`` as the study ran it (every class), cached."""
        cached = self.result(image, explanation)
        if cached is not None:
            return cached
        from engine import explain

        model = self.model(explanation.model)
        shown = self.study_image(image)
        result = explain(model, shown.display, method=explanation.method,
                         layers=[explanation.layer] if explanation.layer else None, cancel=cancelled,
                         **explanation.params)
        with self._lock:
            self._results[(image, explanation.key)] = result
            while len(self._results) > RESULTS_KEPT:
                self._results.popitem(last=False)
        return result

    def compute(self, requests: Sequence[MapRequest], cancelled: Callable[[], bool],
                progress: Callable[[float, str], None]) -> int:
        """Make the plain thumbnails of every requested image, then their maps, in order.

        Reports ``progress(fraction, image)`` after each thumbnail or map made, so that the GUI
        redraws that image. An image that cannot be read or explained is recorded in
        :attr:`errors` and skipped. Returns how many maps were made.

        Raises:
            CancelledError: ``cancelled()`` turned True (a newer request replaced this one).
        """
        todo = self.missing(requests)
        images = list(dict.fromkeys(r.image for r in requests))
        steps = max(1, len(images) + len(todo))
        done = 0
        for image in images:
            if cancelled():
                raise CancelledError("the gallery scrolled or changed; a newer request replaced this one.")
            if self.plain(image) is None and image not in self.errors:
                try:
                    thumb = plain_thumbnail(self.study_image(image).display, self.longest)
                except Exception as exc:  # an unreadable image must not stop the gallery
                    self._fail(image, exc)
                else:
                    with self._lock:
                        self._plain[image] = thumb
                        _trim(self._plain, THUMBS_KEPT)
            done += 1
            progress(done / steps, image)
        made = 0
        for request in todo:
            if cancelled():
                raise CancelledError("the gallery scrolled or changed; a newer request replaced this one.")
            if request.image in self.errors or (request.image, request.explanation.key) in self.map_errors:
                continue
            try:
                result = self.explain(request.image, request.explanation, cancelled)
                shown = self.study_image(request.image)
                thumb = map_thumbnail(shown.display, result.map(request.cls, "image"), self.longest)
            except CancelledError:
                raise
            except StudyError:
                raise  # the model is wrong for every image: report it once
            except Exception as exc:  # e.g. the engine no longer accepts a parameter the study used
                with self._lock:
                    self.map_errors[(request.image, request.explanation.key)] = f"{type(exc).__name__}: {exc}"
            else:
                with self._lock:
                    self._maps[(request.image, request.explanation.key, request.cls)] = thumb
                    _trim(self._maps, THUMBS_KEPT)
                made += 1
            done += 1
            progress(done / steps, request.image)
        return made

    def _fail(self, image: str, exc: BaseException) -> None:
        with self._lock:
            self.errors[image] = f"{type(exc).__name__}: {exc}"


def _trim(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


def requests_for(entries: Sequence[Any], explanations: Sequence[Explanation], cls: str) -> list[MapRequest]:
    """The cells of ``entries`` (gallery entries) under each explanation, row by row."""
    return [MapRequest(e.image, x, cls) for e in entries for x in explanations]
