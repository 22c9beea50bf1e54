"""Configuration and constants of the phantom chest radiograph generator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.errors import RadLensError

#: Generator version, written into ``truth.json`` and the DICOM files; bump when the output of a
#: given seed changes.
GENERATOR_VERSION = "1.1.0"

#: Field of view at the detector (mm) and the geometric magnification of a PA chest film; the
#: image always covers the same anatomy, so one normalised unit is ``DETECTOR_FOV_MM /
#: MAGNIFICATION`` (~391 mm) in the patient at any image size.
DETECTOR_FOV_MM = 430.0
MAGNIFICATION = 1.1
PATIENT_FOV_MM = DETECTOR_FOV_MM / MAGNIFICATION

#: Diameter ranges (mm) of nodules and masses: a nodule is at most 30 mm, a mass larger
#: (Fleischner glossary). Nodules below ~10 mm are rarely seen on a chest film and would be a
#: few pixels at a classifier's input, so the phantom draws 10-30 mm nodules and 30-60 mm masses.
NODULE_DIAMETER_MM = (10.0, 30.0)
MASS_DIAMETER_MM = (30.0, 60.0)

#: The finding classes, in class-id order (``class_id`` = index).
CLASSES: tuple[str, ...] = (
    "Nodule/Mass",
    "Pleural effusion",
    "Pneumothorax",
    "Cardiomegaly",
    "Consolidation",
)

#: Name and class id of the VinBigData "no finding" label.
NO_FINDING = "No finding"
NO_FINDING_ID = 14

#: Annotator pool, as in VinBigData (R1 ... R17).
ANNOTATOR_IDS: tuple[str, ...] = tuple(f"R{i}" for i in range(1, 18))

#: The pixel/box convention used everywhere in this package.
BOX_CONVENTION = (
    "continuous pixel-edge coordinates (x_min, y_min, x_max, y_max); x right, y down, origin at "
    "the top-left corner of the top-left pixel; pixel (row i, col j) covers [j, j+1) x [i, i+1); "
    "a mask spanning cols c0..c1 and rows r0..r1 has the box (c0, r0, c1 + 1, r1 + 1)"
)

_DEFAULT_PROBS: dict[str, float] = {
    "Nodule/Mass": 0.2,
    "Pleural effusion": 0.2,
    "Pneumothorax": 0.2,
    "Cardiomegaly": 0.2,
    "Consolidation": 0.2,
}


class PhantomConfigError(RadLensError):
    """A phantom configuration value is out of range or names an unknown class."""


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that shapes a phantom case besides its seed.

    Attributes:
        size: Image side in pixels (square images); anatomy scales with it (>= 128).
        finding_probs: Probability of each class in :data:`CLASSES` appearing in a case,
            independently. The defaults (0.2 each) give about 33 % normal images.
        max_nodules: Most nodules/masses in one case when the class is present.
        n_annotators: Inclusive range of how many annotators read each image.
        annotator_jitter: Standard deviation of each annotator's box-edge jitter, as a fraction of
            the box side.
        annotator_loose_p: Probability that an annotator draws a markedly looser or tighter box.
        annotator_miss_p: Probability that an annotator misses a finding entirely.
        shortcut_class: Class whose presence plants the shortcut token (None: no shortcut).
        p_shortcut: Probability of the token when ``shortcut_class`` is present.
        p_shortcut_background: Probability of the token when it is absent.
        monochrome1_fraction: Share of DICOM files written as MONOCHROME1 (inverted stored values).
        noise: Detector noise standard deviation on the [0, 1] display scale (scaled per case).
    """

    size: int = 512
    finding_probs: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_PROBS))
    max_nodules: int = 3
    n_annotators: tuple[int, int] = (1, 3)
    annotator_jitter: float = 0.04
    annotator_loose_p: float = 0.1
    annotator_miss_p: float = 0.0
    shortcut_class: str | None = None
    p_shortcut: float = 0.9
    p_shortcut_background: float = 0.02
    monochrome1_fraction: float = 0.2
    noise: float = 0.012

    def __post_init__(self) -> None:
        if not 128 <= self.size <= 4096:
            raise PhantomConfigError(
                f"Image size {self.size} is out of range.", fix="Use a size from 128 to 4096."
            )
        unknown = set(self.finding_probs) - set(CLASSES)
        if unknown:
            raise PhantomConfigError(
                f"Unknown finding classes {sorted(unknown)}.", fix=f"Use names from {CLASSES}."
            )
        for name, p in self.finding_probs.items():
            _check_prob(f"finding_probs[{name!r}]", p)
        for name in ("annotator_loose_p", "annotator_miss_p", "p_shortcut",
                     "p_shortcut_background", "monochrome1_fraction"):
            _check_prob(name, getattr(self, name))
        lo, hi = self.n_annotators
        if not 1 <= lo <= hi <= len(ANNOTATOR_IDS):
            raise PhantomConfigError(
                f"n_annotators {self.n_annotators} is invalid.",
                fix=f"Give (lo, hi) with 1 <= lo <= hi <= {len(ANNOTATOR_IDS)}.",
            )
        if self.shortcut_class is not None and self.shortcut_class not in CLASSES:
            raise PhantomConfigError(
                f"Unknown shortcut class {self.shortcut_class!r}.", fix=f"Use one of {CLASSES}."
            )
        if not 1 <= self.max_nodules <= 6:
            raise PhantomConfigError("max_nodules must be 1..6.", fix="Use a value from 1 to 6.")
        if not 0.0 <= self.annotator_jitter <= 0.1:
            raise PhantomConfigError(
                "annotator_jitter must be within 0..0.1.", fix="Use a few percent, e.g. 0.04."
            )
        if not 0.0 <= self.noise <= 0.1:
            raise PhantomConfigError("noise must be within 0..0.1.", fix="Use e.g. 0.012.")

    def prob(self, class_name: str) -> float:
        """Probability of ``class_name`` (0 when not configured)."""
        return float(self.finding_probs.get(class_name, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy of the configuration."""
        data = asdict(self)
        data["n_annotators"] = list(self.n_annotators)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhantomConfig:
        """Rebuild a configuration written by :meth:`to_dict`.

        Raises:
            PhantomConfigError: On unknown keys.
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise PhantomConfigError(f"Unknown configuration keys {sorted(unknown)}.")
        kwargs = dict(data)
        if "n_annotators" in kwargs:
            kwargs["n_annotators"] = tuple(kwargs["n_annotators"])
        return cls(**kwargs)


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise PhantomConfigError(f"{name} = {value} is not a probability.", fix="Use 0..1.")
