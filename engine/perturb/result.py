"""The frozen, typed result of one perturbation run, carrying its provenance (``perturb.json``).

:func:`engine.perturb.document.build_document` answers with a :class:`PerturbationResult`;
``radlens perturb`` writes it with :meth:`PerturbationResult.to_json` (format
``radlens.perturbation``, schema 1, the keys every earlier ``perturb.json`` has), the viewer keeps
it in ``state.perturbation`` and the report reads its attributes. Files written before the typed
result read back unchanged (:meth:`PerturbationResult.from_dict`); keys this version does not know
are kept in ``extra`` and written back.

For readers written against the old plain dict, the result is also a read-only
:class:`~collections.abc.Mapping` of its JSON form (``result["class"]``, ``"region" in result``);
new code uses the attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import RadLensError

FORMAT = "radlens.perturbation"
SCHEMA_VERSION = 1
REQUIRED = ("format", "schema_version", "app", "model", "image", "class", "mode", "classes", "original")
#: Keys of the order summary that sit at the top level of perturb.json (for the document's ``order``).
SUMMARY_KEYS = ("deletion", "insertion", "deletion_auc", "insertion_auc", "aopc")


class PerturbationDocumentError(RadLensError):
    """A perturbation document is not of the ``radlens.perturbation`` format or schema."""


def _floats(values: Sequence[Any] | None) -> tuple[float, ...]:
    return tuple(float(v) for v in (values or ()))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Curve:
    """One curve of the target class: ``scores[i]`` at ``fractions[i]``."""

    fractions: tuple[float, ...]
    scores: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"fractions": list(self.fractions), "scores": list(self.scores)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], fractions: Sequence[float] = ()) -> Curve:
        return cls(_floats(d.get("fractions") or fractions), _floats(d.get("scores")))


@dataclass(frozen=True)
class OrderSummary:
    """Deletion and insertion curves, their normalised AUCs and AOPC for one pixel order."""

    deletion: Curve | None = None
    insertion: Curve | None = None
    deletion_auc: float | None = None
    insertion_auc: float | None = None
    aopc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in SUMMARY_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value.to_dict() if isinstance(value, Curve) else value
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], fractions: Sequence[float] = ()) -> OrderSummary:
        def curve(key: str) -> Curve | None:
            v = d.get(key)
            return Curve.from_dict(v, fractions) if isinstance(v, Mapping) else None

        return cls(curve("deletion"), curve("insertion"), _opt_float(d.get("deletion_auc")),
                   _opt_float(d.get("insertion_auc")), _opt_float(d.get("aopc")))

    @property
    def empty(self) -> bool:
        return not self.to_dict()


@dataclass(frozen=True)
class RandomBand:
    """Mean and sample sd (ddof=1) of the target's curves over random pixel orders."""

    seeds: tuple[int, ...]
    deletion_mean: tuple[float, ...] = ()
    deletion_sd: tuple[float, ...] = ()
    insertion_mean: tuple[float, ...] = ()
    insertion_sd: tuple[float, ...] = ()
    deletion_auc_mean: float | None = None
    deletion_auc_sd: float | None = None
    insertion_auc_mean: float | None = None
    insertion_auc_sd: float | None = None
    aopc_mean: float | None = None

    _CURVES = ("deletion_mean", "deletion_sd", "insertion_mean", "insertion_sd")
    _SCALARS = ("deletion_auc_mean", "deletion_auc_sd", "insertion_auc_mean", "insertion_auc_sd", "aopc_mean")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seeds": list(self.seeds)}
        out |= {k: list(getattr(self, k)) for k in self._CURVES}
        out |= {k: getattr(self, k) for k in self._SCALARS if getattr(self, k) is not None}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RandomBand:
        return cls(tuple(int(s) for s in d.get("seeds") or ()),
                   *(_floats(d.get(k)) for k in cls._CURVES),  # type: ignore[arg-type]
                   *(_opt_float(d.get(k)) for k in cls._SCALARS))


@dataclass(frozen=True)
class DeltaP:
    """Every class's ``p_original - p_perturbed`` at each fraction (positive: the class lost)."""

    fractions: tuple[float, ...]
    by_class: Mapping[str, tuple[float, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"fractions": list(self.fractions), "by_class": {c: list(v) for c, v in self.by_class.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeltaP:
        return cls(_floats(d.get("fractions")), {str(c): _floats(v) for c, v in (d.get("by_class") or {}).items()})


@dataclass(frozen=True)
class RegionResult:
    """A replaced box (image pixel-edge coordinates) and what every class did."""

    box: tuple[float, ...]
    probabilities: Mapping[str, float]
    delta_p: Mapping[str, float]
    pixels: int

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "probabilities": dict(self.probabilities), "delta_p": dict(self.delta_p),
                "pixels": self.pixels}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegionResult:
        return cls(_floats(d.get("box")), {str(k): float(v) for k, v in (d.get("probabilities") or {}).items()},
                   {str(k): float(v) for k, v in (d.get("delta_p") or {}).items()}, int(d.get("pixels", 0)))


_KNOWN = set(REQUIRED) | set(SUMMARY_KEYS) | {
    "method", "layer", "mode_params", "order", "resolution", "seed", "patch", "definitions", "created",
    "versions", "fractions", "random", "delta_p", "baseline", "orders", "fraction", "probabilities", "region",
    "curves_convention",
}


@dataclass(frozen=True, eq=False)
class PerturbationResult(Mapping[str, Any]):
    """What replacing an explanation's pixels did to every class's probability, with its provenance.

    Attributes:
        target: The class whose map ranked the pixels (``"class"`` in JSON).
        image: The image's path or name (None once de-identified: the key is then left out).
        classes: The model's classes, in output order.
        original: Every class's probability on the unperturbed image.
        model: ``name``, ``version`` and weights ``sha256`` of the model (plus ``architecture``).
        app: ``name`` and ``version`` of RadLens.
        method, layer: The explanation method and layer that made the map.
        mode, mode_params: The replacement mode and its parameters.
        order: The pixel order the top-level summary describes (``morf``, ``lerf``, ``random``).
        resolution: ``model`` or ``image``; seed: of the noise modes and random orders.
        patch: The ranking's square size (1: single pixels; None in files that did not record it).
        versions: Library versions; created: ISO 8601 time (UTC); definitions: what each number means.
        fractions: The fractions the curves and Δp were computed at.
        summary: Curves, AUCs and AOPC of ``order`` (the top-level keys of perturb.json).
        random: The random-order band, or None.
        delta_p: Every class's Δp along ``order``'s deletion curve (or at the one slider step).
        baseline: The insertion baseline replacement (``{"mode", "params"}``), or None.
        curves_convention: Which deletion/insertion convention made the curves: ``radlens``
            (image-mean fill, 21x21 blur baseline), ``rise`` (Petsiuk et al. 2018: zeros of the
            normalised input, 11x11 sigma 5 blur) or ``custom``; None when no curves were run.
        orders: The summary of every order run.
        fraction, probabilities: One slider step and every class's probability at it.
        region: A replaced box, or None.
        extra: Keys this version does not know, kept to be written back.
    """

    target: str
    image: str | None
    classes: tuple[str, ...]
    original: Mapping[str, float]
    model: Mapping[str, Any]
    app: Mapping[str, Any]
    mode: str
    mode_params: Mapping[str, Any] = field(default_factory=dict)
    method: str | None = None
    layer: str | None = None
    order: str = "morf"
    resolution: str = "model"
    seed: int = 0
    patch: int | None = 1
    versions: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    definitions: Mapping[str, str] = field(default_factory=dict)
    fractions: tuple[float, ...] | None = None
    summary: OrderSummary = field(default_factory=OrderSummary)
    random: RandomBand | None = None
    delta_p: DeltaP | None = None
    baseline: Mapping[str, Any] | None = None
    curves_convention: str | None = None
    orders: Mapping[str, OrderSummary] = field(default_factory=dict)
    fraction: float | None = None
    probabilities: Mapping[str, float] | None = None
    region: RegionResult | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # --- provenance -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The settings that reproduce the run (method, layer, mode, order, resolution, seed, patch)."""
        return {"method": self.method, "layer": self.layer, "mode": self.mode, "mode_params": dict(self.mode_params),
                "order": self.order, "resolution": self.resolution, "seed": self.seed, "patch": self.patch,
                "fractions": list(self.fractions) if self.fractions is not None else None,
                "baseline": dict(self.baseline) if self.baseline is not None else None,
                "curves_convention": self.curves_convention,
                "random_seeds": list(self.random.seeds) if self.random is not None else []}

    # --- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The perturb.json document (keys absent when not computed)."""
        d: dict[str, Any] = {
            "format": FORMAT, "schema_version": self.schema_version, "app": dict(self.app), "model": dict(self.model),
            "method": self.method, "layer": self.layer, "class": self.target,
            "mode": self.mode, "mode_params": dict(self.mode_params), "order": self.order,
            "resolution": self.resolution, "seed": self.seed,
        }
        if self.image is not None:
            d["image"] = self.image
        if self.patch is not None:
            d["patch"] = self.patch
        d["classes"] = list(self.classes)
        d["original"] = dict(self.original)
        if self.definitions:
            d["definitions"] = dict(self.definitions)
        if self.created:
            d["created"] = self.created
        if self.versions:
            d["versions"] = dict(self.versions)
        if self.fractions is not None:
            d["fractions"] = list(self.fractions)
        d |= self.summary.to_dict()
        if self.random is not None:
            d["random"] = self.random.to_dict()
        if self.delta_p is not None:
            d["delta_p"] = self.delta_p.to_dict()
        if self.baseline is not None:
            d["baseline"] = dict(self.baseline)
        if self.curves_convention is not None:
            d["curves_convention"] = self.curves_convention
        if self.orders:
            d["orders"] = {o: s.to_dict() for o, s in self.orders.items()}
        if self.fraction is not None:
            d["fraction"] = self.fraction
        if self.probabilities is not None:
            d["probabilities"] = dict(self.probabilities)
        if self.region is not None:
            d["region"] = self.region.to_dict()
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def to_json(self, path: str | Path | None = None) -> str:
        """The document as JSON; written atomically when ``path`` is given."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | Path | None = None) -> PerturbationResult:
        """Read a perturb.json document (this schema; written by any earlier RadLens too).

        Raises:
            PerturbationDocumentError: Not of format ``radlens.perturbation`` schema 1, or a
                required key is missing.
        """
        if isinstance(d, PerturbationResult):
            return d
        check_document(d, source)
        fractions = _floats(d["fractions"]) if d.get("fractions") is not None else None
        summary = OrderSummary.from_dict(d, fractions or ())
        rnd, dp, region = d.get("random"), d.get("delta_p"), d.get("region")
        return cls(
            target=str(d["class"]), image=str(d.get("image", "")), classes=tuple(str(c) for c in d["classes"]),
            original={str(k): float(v) for k, v in d["original"].items()}, model=dict(d["model"]),
            app=dict(d["app"]), mode=str(d["mode"]), mode_params=dict(d.get("mode_params") or {}),
            method=d.get("method"), layer=d.get("layer"), order=str(d.get("order", "morf")),
            resolution=str(d.get("resolution", "model")), seed=int(d.get("seed", 0)),
            patch=int(d["patch"]) if d.get("patch") is not None else None,
            versions={str(k): str(v) for k, v in (d.get("versions") or {}).items()},
            created=str(d.get("created", "")), definitions=dict(d.get("definitions") or {}),
            fractions=fractions, summary=summary,
            random=RandomBand.from_dict(rnd) if isinstance(rnd, Mapping) else None,
            delta_p=DeltaP.from_dict(dp) if isinstance(dp, Mapping) else None,
            baseline=dict(d["baseline"]) if isinstance(d.get("baseline"), Mapping) else None,
            curves_convention=str(d["curves_convention"]) if d.get("curves_convention") else None,
            orders={str(o): OrderSummary.from_dict(s, fractions or ()) for o, s in (d.get("orders") or {}).items()
                    if isinstance(s, Mapping)},
            fraction=_opt_float(d.get("fraction")),
            probabilities={str(k): float(v) for k, v in d["probabilities"].items()}
            if isinstance(d.get("probabilities"), Mapping) else None,
            region=RegionResult.from_dict(region) if isinstance(region, Mapping) else None,
            extra={k: v for k, v in d.items() if k not in _KNOWN},
            schema_version=int(d["schema_version"]),
        )

    @classmethod
    def from_json(cls, source: str | Path) -> PerturbationResult:
        """Read a result from a JSON string or a perturb.json file.

        Raises:
            PerturbationDocumentError: The file cannot be read, is not JSON, or is not of this schema.
        """
        path = Path(source) if isinstance(source, Path) or not str(source).lstrip().startswith("{") else None
        try:
            text = path.read_text(encoding="utf-8") if path is not None else str(source)
            d = json.loads(text)
        except (OSError, ValueError) as exc:
            raise PerturbationDocumentError(f"cannot read a perturbation document: {exc}", path=path,
                                            fix="pass the perturb.json written by radlens perturb.") from exc
        if not isinstance(d, Mapping):
            raise PerturbationDocumentError("the file holds no JSON object.", path=path,
                                            fix="pass the perturb.json written by radlens perturb.")
        return cls.from_dict(d, path)

    # --- read-only Mapping view of the JSON form (readers of the old dict) ----------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PerturbationResult):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def check_document(doc: Mapping[str, Any], source: str | Path | None = None) -> None:
    """Raise if ``doc`` is not a perturb.json of this schema.

    Raises:
        PerturbationDocumentError: Wrong format or schema, or a required key missing.
    """
    missing = [k for k in REQUIRED if k not in doc]
    if doc.get("format") != FORMAT or doc.get("schema_version") != SCHEMA_VERSION or missing:
        raise PerturbationDocumentError(
            f"not a RadLens perturbation document of schema {SCHEMA_VERSION} "
            f"(format={doc.get('format')!r}, schema_version={doc.get('schema_version')!r}, missing keys {missing}).",
            path=source, fix="pass the perturb.json written by radlens perturb (re-run it with this RadLens).")
