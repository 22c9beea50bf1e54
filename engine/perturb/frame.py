"""The image a perturbation works on, at image or model resolution, and batched forwards of it.

Scores are class probabilities, or for a regression model the predicted values (raw outputs).

* ``resolution="image"``: pixels are replaced in the original image (``StudyImage.display`` or the
  array given); each perturbed image then goes through the model's preprocessing (resize,
  letterbox, normalisation): :func:`engine.preprocess.prepare_batch`, the function
  :func:`engine.preprocess.to_model_input` calls, batched.
* ``resolution="model"``: pixels are replaced in the model input before normalisation (e.g.
  224 x 224); letterbox padding is outside the content and never replaced. Fast, and what
  inpainting should use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import CancelledError, RadLensError, ShapeError
from engine.explainers.base import Context, auto_batch_size, memory_budget_bytes
from engine.explainers.hooks import logits_of
from engine.models.bundle import LoadedModel
from engine.models.inference import inference_copy
from engine.models.lock import model_lock
from engine.preprocess import HasDisplay, InputGeometry, as_unit_image, frame_pixels, prepare_batch
from engine.sampling import grid_to_pixels, resize_bilinear

RESOLUTIONS = ("image", "model")


@dataclass(frozen=True, eq=False)
class Frame:
    """An image ready to be perturbed and fed to a model.

    Attributes:
        model: The model.
        base: ``(H, W)`` or ``(H, W, C)`` float32 pixels in [0, 1] at the chosen resolution.
        valid: ``(H, W)`` mask of the pixels that may be replaced (the image content).
        resolution: ``image`` or ``model``.
        geometry: How the original image sits in the model input.
    """

    model: LoadedModel
    base: np.ndarray
    valid: np.ndarray
    resolution: str
    geometry: InputGeometry

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.base.shape[0]), int(self.base.shape[1])

    def box_to_frame(self, box: tuple[float, float, float, float] | list[float]) -> list[float]:
        """A box in original-image pixel-edge coordinates, in this frame's coordinates."""
        if self.resolution == "image":
            return [float(v) for v in box]
        return [float(v) for v in self.geometry.boxes_to_model(np.asarray(box, np.float64))[0]]

    def relevance_to_frame(self, relevance: np.ndarray) -> np.ndarray:
        """A map in original-image pixels resampled onto this frame (NaN outside the content)."""
        rel = np.asarray(relevance, dtype=np.float32)
        if rel.shape != self.geometry.image_size:
            raise ShapeError("relevance map", rel.shape, f"the image's {self.geometry.image_size}")
        if self.resolution == "image":
            return rel.copy()
        x0, y0, x1, y1 = self.geometry.content_box
        t = torch.from_numpy(np.nan_to_num(rel, nan=float(np.nanmin(rel))))[None, None]
        out = np.full(self.shape, np.nan, dtype=np.float32)
        out[y0:y1, x0:x1] = resize_bilinear(t, (y1 - y0, x1 - x0))[0, 0].numpy()
        return out

    def model_relevance(self, model_map: np.ndarray) -> np.ndarray:
        """A map covering the model-input frame (``ExplanationResult.map(c, "model")``) on this frame."""
        m = np.asarray(model_map, dtype=np.float32)
        if self.resolution == "image":
            return grid_to_pixels(torch.from_numpy(m)[None], self.geometry, "image")[0].numpy()
        out = np.full(self.shape, np.nan, dtype=np.float32)
        x0, y0, x1, y1 = self.geometry.content_box
        out[y0:y1, x0:x1] = m[y0:y1, x0:x1]
        return out

    def to_model(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs ``(B, Cm, Hm, Wm)`` from frame images ``(B, H, W[, C])``."""
        return prepare_batch(images, self.model.manifest, self.geometry if self.resolution == "image" else None)

    def chunk_size(self, wanted: int) -> int:
        """Images per forward: what fits the model's activations and the frame-size buffers."""
        x = self.to_model(torch.from_numpy(self.base[None]))
        ctx = Context(module=self.model.module, x=x.to(self.model.device), device=self.model.device)
        n = auto_batch_size(ctx, wanted, with_grad=False)
        per_image = self.base.nbytes * 4  # mask, perturbed copy, channel/resize temporaries
        cap = max(1, memory_budget_bytes(torch.device("cpu")) // max(per_image, 1))
        return int(max(1, min(n, cap)))

    @property
    def is_regression(self) -> bool:
        """Whether the model predicts values (``task: regression``): its scores are then raw outputs."""
        return self.model.manifest.task == "regression"

    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        """Class probabilities ``(B, C)`` of frame images (one forward; the caller chunks).

        For a regression model (``task: regression``) the scores are the predicted values, the raw
        outputs in their units (no sigmoid or softmax): every curve, Δ and band built on these
        scores is then in the output's unit.
        """
        x = self.to_model(images).to(self.model.device)
        with model_lock(self.model), torch.no_grad():  # the gradient-free copy: BN folded, channels_last
            logits = logits_of(inference_copy(self.model).module(x)).double()  # float64: sigmoid saturates later
        if logits.ndim != 2 or logits.shape[1] != len(self.model.class_names):
            raise RadLensError(f"the model outputs shape {tuple(logits.shape)} but lists "
                               f"{len(self.model.class_names)} classes.", path=self.model.path)
        task = self.model.manifest.task
        if task == "regression":
            probs = logits
        else:
            probs = torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, 1)
        return probs.cpu().numpy().astype(np.float64)

    def predict_batches(self, make: Callable[[int, int], torch.Tensor], n: int, *, chunk: int | None = None,
                        cancel: Callable[[], bool] | None = None,
                        progress: Callable[[float, str], None] | None = None) -> np.ndarray:
        """Probabilities ``(n, C)`` of ``n`` images built chunk by chunk by ``make(start, stop)``."""
        size = chunk or self.chunk_size(n)
        out = []
        for start in range(0, n, size):
            if cancel is not None and cancel():
                raise CancelledError("the perturbation was cancelled.")
            stop = min(n, start + size)
            out.append(self.probabilities(make(start, stop)))
            if progress is not None:
                progress(stop / n, f"{stop}/{n} perturbed images")
        return np.concatenate(out, axis=0) if out else np.zeros((0, len(self.model.class_names)))


def make_frame(model: LoadedModel, image: np.ndarray | HasDisplay, resolution: str = "model") -> Frame:
    """Prepare ``image`` for perturbation at ``image`` or ``model`` resolution."""
    if resolution not in RESOLUTIONS:
        raise RadLensError(f"unknown resolution {resolution!r}.", fix="use 'image' or 'model'.")
    unit, _ = as_unit_image(image)
    h, w = unit.shape[:2]
    geometry = InputGeometry.fit((h, w), model.manifest.input_size, model.manifest.resize)
    if resolution == "image":
        return Frame(model, np.array(unit, dtype=np.float32, order="C", copy=True), np.ones(unit.shape[:2], bool),
                     resolution, geometry)
    pix = frame_pixels(torch.from_numpy(np.array(unit, dtype=np.float32, order="C"))[None], model.manifest,
                       geometry)[0].numpy()  # (Cm, Hm, Wm)
    base = pix[0] if unit.ndim == 2 or pix.shape[0] == 1 else pix.transpose(1, 2, 0)
    valid = np.zeros(base.shape[:2], bool)
    x0, y0, x1, y1 = geometry.content_box
    valid[y0:y1, x0:x1] = True
    return Frame(model, np.array(base, dtype=np.float32, order="C", copy=True), valid, resolution, geometry)
