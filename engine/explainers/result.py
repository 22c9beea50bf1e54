"""The frozen, serialisable result of one explanation, carrying its provenance."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.atomic import atomic_write_text
from engine.errors import RadLensError, UnknownClassError
from engine.explainers.normalise import apply_scale, scale_for
from engine.preprocess import InputGeometry
from engine.sampling import SPACES, GridAlignment, grid_to_pixels

RESULT_SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False)
class ExplanationResult:
    """Maps and scores of one explanation, with everything needed to reproduce it.

    Maps are stored once, raw, on their native grid covering the model-input frame
    (``native_maps``); :meth:`map` returns them normalised as ``normalisation`` says, in the
    original image's pixels (``space="image"``) or at model resolution (``space="model"``).
    Resampling is bilinear. With an ``alignment`` (CAM methods, see
    :mod:`engine.explainers.alignment`) each grid cell is placed at its measured receptive-field
    centre; without one (input-resolution methods, or ``alignment="resize"``) cells sit at the
    centres of their tiles (``align_corners=False``, what plain resizing does). Normalisation is
    affine, so the order of resampling and normalising does not matter.

    Attributes:
        method: Registry name of the method.
        params: Its parameters, defaults filled in.
        layers: Target layers (empty for input-gradient methods).
        class_names: All of the model's classes, in output order.
        explained: The classes that have maps, in ``native_maps`` order.
        logits: ``(C,)`` class scores of the clean image.
        probabilities: ``(C,)`` sigmoid (multi-label) or softmax (multi-class) of ``logits``.
        thresholds: Per-class decision thresholds from the model bundle.
        target: What was differentiated (e.g. "logit (pre-sigmoid)").
        normalisation: ``per_map``, ``shared`` or ``raw``.
        native_maps: ``(len(explained), h, w)`` float32 raw maps.
        value_ranges: Per explained class, (min, max) of its raw map.
        geometry: How the image sits in the model input.
        model: Name, version, architecture, task and weights sha256 of the model.
        versions: Library versions.
        device: Where it ran; precision: ``fp32`` or the autocast dtype.
        elapsed_s: Wall time of the method.
        signed: Whether negative values are meaningful.
        notes: What the user should know about how the maps were made.
        input_scaling: How image pixel values were brought to [0, 1].
        created: ISO 8601 time of creation (UTC).
        alignment: Where the native grid's cells sit on the model input, or None (tile centres).
        diagnostics: JSON-ready checks of the result, e.g. Integrated Gradients' ``completeness``
            (per explained class: attribution sum, ``f(x) - f(baseline)``, gap, relative gap).
        units: Regression models: the unit of each output (``class_names`` order).
        direction: Regression (direction) results: which direction ``native_maps`` holds,
            ``"raises"`` or ``"lowers"`` (:mod:`engine.explainers.direction`); "" otherwise.
        direction_maps: Raw native maps of both directions, ``{"raises": (K, h, w), "lowers": ...}``;
            :meth:`map` with ``direction=`` and :meth:`directed` read them.

    For a regression model (``model["task"] == "regression"``) ``logits`` are the predicted values
    (:attr:`values`), ``probabilities`` repeats them (no sigmoid/softmax; kept so score readers
    work) and ``thresholds`` is empty.
    """

    method: str
    params: Mapping[str, Any]
    layers: tuple[str, ...]
    class_names: tuple[str, ...]
    explained: tuple[str, ...]
    logits: np.ndarray
    probabilities: np.ndarray
    thresholds: tuple[float, ...]
    target: str
    normalisation: str
    native_maps: np.ndarray
    value_ranges: Mapping[str, tuple[float, float]]
    geometry: InputGeometry
    model: Mapping[str, Any]
    versions: Mapping[str, str]
    device: str
    precision: str
    elapsed_s: float
    signed: bool = False
    notes: tuple[str, ...] = ()
    input_scaling: str = ""
    created: str = ""
    layer_maps: Mapping[str, np.ndarray] = field(default_factory=dict)
    alignment: GridAlignment | None = None
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = RESULT_SCHEMA_VERSION
    units: tuple[str, ...] = ()
    direction: str = ""
    direction_maps: Mapping[str, np.ndarray] = field(default_factory=dict)
    _directed: dict[str, ExplanationResult] = field(default_factory=dict, repr=False, compare=False)
    _cache: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    #: Values derived from the maps that other modules keep with the result (e.g. the
    #: localisation index of engine.analysis); never serialised.
    #: (``init=False``: a copy made by ``dataclasses.replace`` starts with an empty one, so a result
    #: with other maps never sees this one's.)
    derived: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    # --- access -----------------------------------------------------------------------
    def index(self, cls: str | int) -> int:
        """Position of ``cls`` (name or model class index) in ``explained``."""
        name = self.class_names[cls] if isinstance(cls, int) and 0 <= cls < len(self.class_names) else cls
        if name not in self.explained:
            raise UnknownClassError(
                f"class {cls!r} has no map in this result (explained: {', '.join(self.explained)})."
            )
        return self.explained.index(name)

    def probability(self, cls: str | int) -> float:
        i = self.class_names.index(cls) if isinstance(cls, str) else cls
        return float(self.probabilities[i])

    def scale(self, cls: str | int, normalisation: str | None = None) -> tuple[float, float]:
        """The raw values that map to 0 and 1 for ``cls`` under a normalisation mode."""
        mode = normalisation or self.normalisation
        return scale_for(self.native_maps, mode)[self.index(cls)]

    # --- regression values and directions -----------------------------------------------
    @property
    def is_regression(self) -> bool:
        """Whether the model predicts continuous values (its task is ``regression``)."""
        return self.model.get("task") == "regression"

    @property
    def values(self) -> np.ndarray:
        """The model's raw outputs: the predicted values of a regression model."""
        return self.logits

    def value(self, cls: str | int) -> float:
        """Predicted value of output ``cls`` (name or index)."""
        i = self.class_names.index(cls) if isinstance(cls, str) else int(cls)
        return float(self.logits[i])

    def unit(self, cls: str | int) -> str:
        """Unit of output ``cls`` ("" when the bundle gives none)."""
        i = self.class_names.index(cls) if isinstance(cls, str) else int(cls)
        return self.units[i] if i < len(self.units) else ""

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions this result holds maps for (empty for a plain explanation)."""
        return tuple(self.direction_maps)

    def directed(self, direction: str) -> ExplanationResult:
        """This result with ``native_maps`` (and value ranges) of ``direction``.

        Everything that reads ``native_maps`` (boxes, IoU, rendering) then works on that
        direction. Per-layer maps are kept only for the direction computed first (raises).

        Raises:
            UnknownClassError: The result has no map of that direction.
        """
        if direction == self.direction:
            return self
        if direction not in self.direction_maps:
            raise UnknownClassError(f"this result has no '{direction}' maps (it has: "
                                    f"{', '.join(self.direction_maps) or 'none: not a direction result'}).")
        if direction not in self._directed:
            import dataclasses

            native = self.direction_maps[direction]
            self._directed[direction] = dataclasses.replace(
                self, native_maps=native, direction=direction, _cache={}, _directed={},
                value_ranges={n: (float(m.min()), float(m.max())) for n, m in zip(self.explained, native, strict=True)},
                layer_maps=self.layer_maps if direction == "raises" else {},
            )
        return self._directed[direction]

    def map(
        self, cls: str | int, space: str = "image", normalisation: str | None = None,
        *, size: tuple[int, int] | None = None, direction: str | None = None,
    ) -> np.ndarray:
        """The map of ``cls`` as float32, in ``image``, ``model`` or ``native`` pixels, normalised.

        ``size`` = (H, W) draws ``image`` or ``model`` space at another size (e.g. a printed
        figure) straight from the native grid (:func:`engine.sampling.grid_to_pixels`).
        ``direction`` (``"raises"``/``"lowers"``, direction results only) picks that direction's map.
        """
        if direction is not None and direction != self.direction:
            return self.directed(direction).map(cls, space, normalisation, size=size)
        mode = normalisation or self.normalisation
        i = self.index(cls)
        key = (self.explained[i], space, mode)
        if size is None and key in self._cache:
            return self._cache[key]
        low, high = self.scale(cls, mode)
        native = torch.from_numpy(apply_scale(self.native_maps[i], low, high))[None]
        if space == "native":
            out = native[0]
        elif space in SPACES:
            out = grid_to_pixels(native, self.geometry, space, self.alignment, size=size)[0]
        else:
            raise ValueError(f"space must be 'image', 'model' or 'native', not {space!r}")
        result = out.numpy().astype(np.float32, copy=False)
        if size is None:  # figures drawn at other sizes are not kept
            self._cache[key] = result
        return result

    def release(self, cls: str | int) -> None:
        """Drop what was computed and kept for ``cls`` (its maps at image size, derived values):
        at clinical resolution that is tens of MB per class; it is computed again when asked."""
        name = self.explained[self.index(cls)]
        # list(dict) copies the keys in one step: another thread (radlens explain draws overlays in
        # threads) may add another class's entries meanwhile, which iterating the dict would not allow
        for key in [k for k in list(self._cache) if k[0] == name]:
            self._cache.pop(key, None)
        for key in [k for k in list(self.derived) if len(k) > 1 and k[1] == name]:
            self.derived.pop(key, None)

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """Every explained class's map in image pixels (computed on first use)."""
        return {c: self.map(c) for c in self.explained}

    @property
    def model_maps(self) -> dict[str, np.ndarray]:
        """Every explained class's map at model-input resolution."""
        return {c: self.map(c, "model") for c in self.explained}

    def predicted(self) -> tuple[str, ...]:
        """Classes whose probability reaches their decision threshold (none for regression)."""
        if self.is_regression:
            return ()
        return tuple(
            c for i, c in enumerate(self.class_names)
            if self.probabilities[i] >= (self.thresholds[i] if self.thresholds else 0.5)
        )

    # --- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": "radlens.explanation",
            "created": self.created,
            "method": self.method,
            "params": dict(self.params),
            "layers": list(self.layers),
            "target": self.target,
            "normalisation": self.normalisation,
            "class_names": list(self.class_names),
            "explained": list(self.explained),
            "logits": [float(v) for v in self.logits],
            "probabilities": [float(v) for v in self.probabilities],
            "thresholds": list(self.thresholds),
            "value_ranges": {k: list(v) for k, v in self.value_ranges.items()},
            "geometry": self.geometry.to_dict(),
            "model": dict(self.model),
            "versions": dict(self.versions),
            "device": self.device,
            "precision": self.precision,
            "elapsed_s": self.elapsed_s,
            "signed": self.signed,
            "notes": list(self.notes),
            "input_scaling": self.input_scaling,
            "native_maps": _encode(self.native_maps),
            "layer_maps": {k: _encode(v) for k, v in self.layer_maps.items()},
            "alignment": self.alignment.to_dict() if self.alignment is not None else None,
            "diagnostics": dict(self.diagnostics),
            **({"units": list(self.units)} if self.units else {}),
            **({"direction": self.direction,
                "direction_maps": {k: _encode(v) for k, v in self.direction_maps.items()}}
               if self.direction_maps else {}),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON (maps base64-encoded float32); written atomically if ``path``."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExplanationResult:
        if d.get("kind") != "radlens.explanation" or d.get("schema_version") != RESULT_SCHEMA_VERSION:
            raise RadLensError(
                f"not a RadLens explanation of schema {RESULT_SCHEMA_VERSION} "
                f"(kind={d.get('kind')!r}, schema_version={d.get('schema_version')!r})."
            )
        return cls(
            method=d["method"], params=d["params"], layers=tuple(d["layers"]),
            class_names=tuple(d["class_names"]), explained=tuple(d["explained"]),
            logits=np.asarray(d["logits"], np.float32), probabilities=np.asarray(d["probabilities"], np.float32),
            thresholds=tuple(d["thresholds"]), target=d["target"], normalisation=d["normalisation"],
            native_maps=_decode(d["native_maps"]),
            value_ranges={k: (float(v[0]), float(v[1])) for k, v in d["value_ranges"].items()},
            geometry=InputGeometry.from_dict(d["geometry"]), model=d["model"], versions=d["versions"],
            device=d["device"], precision=d["precision"], elapsed_s=d["elapsed_s"], signed=d["signed"],
            notes=tuple(d["notes"]), input_scaling=d["input_scaling"], created=d["created"],
            layer_maps={k: _decode(v) for k, v in d.get("layer_maps", {}).items()},
            alignment=GridAlignment.from_dict(d["alignment"]) if d.get("alignment") else None,
            diagnostics=dict(d.get("diagnostics") or {}),
            units=tuple(d.get("units") or ()), direction=str(d.get("direction") or ""),
            direction_maps={k: _decode(v) for k, v in (d.get("direction_maps") or {}).items()},
        )

    @classmethod
    def from_json(cls, source: str | Path) -> ExplanationResult:
        """Read a result from a JSON string or a file path."""
        text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) or (
            isinstance(source, str) and not source.lstrip().startswith("{")
        ) else source
        return cls.from_dict(json.loads(text))


def _encode(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(d: Mapping[str, Any]) -> np.ndarray:
    buf = base64.b64decode(d["data"])
    return np.frombuffer(buf, dtype="<f4").reshape(d["shape"]).astype(np.float32)
