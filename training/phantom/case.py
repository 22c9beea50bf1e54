"""One phantom case: render the chest, its findings, markers, and the simulated annotations."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.uid import generate_uid

from training.phantom.anatomy import Anatomy, render_anatomy, vessel_tree
from training.phantom.annotators import AnnotatorBox, choose_readers, draw_box
from training.phantom.config import CLASSES, PhantomConfig
from training.phantom.fields import blur
from training.phantom.findings import (
    LUNG_AIR,
    FindingRender,
    consolidation,
    effusion,
    inner_depth,
    nodule,
    pneumothorax,
    wall_distance,
)
from training.phantom.geometry import Box, tight_box
from training.phantom.markers import laterality_marker, shortcut_token

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

#: Largest stored value (12-bit).
MAX_STORED = 4095

#: Cardiothoracic-ratio ranges drawn for normal and enlarged hearts.
NORMAL_CTR = (0.38, 0.47)
ENLARGED_CTR = (0.54, 0.66)


@dataclass(frozen=True, eq=False)
class TrueFinding:
    """A finding as rendered: exact mask and its tight box.

    Attributes:
        class_name: One of :data:`CLASSES`.
        class_id: Index of the class in :data:`CLASSES`.
        box: Tight pixel-edge box of ``mask`` (see BOX_CONVENTION).
        mask: Boolean mask of the rendered finding (for Cardiomegaly: the heart).
        side: Patient side, "right" or "left" ("both" for the heart).
    """

    class_name: str
    class_id: int
    box: Box
    mask: BoolArray
    side: str


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """A generated frontal chest radiograph with its exact truth and simulated annotations.

    Attributes:
        seed: The seed the case was generated from.
        image: Display-ready image, float32 in [0, 1] (bright = dense), equal to stored / 4095.
        stored: The 12-bit stored values (uint16, 0..4095), MONOCHROME2 sense.
        findings: True findings (exact masks and tight boxes); empty for a normal image.
        annotations: Boxes of the simulated annotators.
        readers: Annotators who read the image (those without boxes said "No finding").
        laterality: The burned-in letter, "L" or "R".
        laterality_box: Tight box of the letter.
        shortcut: Whether the shortcut token was planted.
        shortcut_box: Its tight box, or None.
        photometric: "MONOCHROME1" or "MONOCHROME2", used when written as DICOM.
        patient_id: Synthetic id, e.g. "PHANTOM^0001".
        patient_sex: "M" or "F".
        study_date: YYYYMMDD.
        study_uid: Deterministic from the seed, as are ``series_uid`` and ``sop_uid``.
        heart_mask: The rendered heart.
        thorax_mask: The thoracic cavity (inside the inner rib margins, above the diaphragm).
        lung_mask: Both lung fields.
        ctr: Cardiothoracic ratio measured on ``heart_mask`` and ``thorax_mask``.
    """

    seed: int
    image: FloatArray
    stored: NDArray[np.uint16]
    findings: tuple[TrueFinding, ...]
    annotations: tuple[AnnotatorBox, ...]
    readers: tuple[str, ...]
    laterality: str
    laterality_box: Box
    shortcut: bool
    shortcut_box: Box | None
    photometric: str
    patient_id: str
    patient_sex: str
    study_date: str
    study_uid: str
    series_uid: str
    sop_uid: str
    heart_mask: BoolArray
    thorax_mask: BoolArray
    lung_mask: BoolArray
    ctr: float

    @property
    def size(self) -> int:
        """Image side in pixels."""
        return int(self.image.shape[0])

    @property
    def class_names(self) -> tuple[str, ...]:
        """Classes present, in :data:`CLASSES` order, without repeats."""
        present = {f.class_name for f in self.findings}
        return tuple(c for c in CLASSES if c in present)

    @property
    def is_normal(self) -> bool:
        """True when the image has no finding."""
        return not self.findings


def _uid(seed: int, what: str) -> str:
    return str(generate_uid(entropy_srcs=["radlens-phantom", str(seed), what]))


def generate_case(seed: int, config: PhantomConfig, *, case_index: int | None = None) -> PhantomCase:
    """Generate one phantom case; the same ``seed`` and ``config`` give bit-identical output.

    Args:
        seed: Seed of ``np.random.default_rng``, the only source of randomness.
        config: Generator configuration.
        case_index: Index within a dataset, used only for the patient id ("PHANTOM^0001" for
            index 0); without it the id is derived from the seed.

    Returns:
        The rendered case with its exact truth and simulated annotations.
    """
    rng = np.random.default_rng(seed)
    size = config.size
    present = {c: bool(rng.random() < config.prob(c)) for c in CLASSES}

    lo, hi = ENLARGED_CTR if present["Cardiomegaly"] else NORMAL_CTR
    anat = render_anatomy(rng, size, float(rng.uniform(lo, hi)))
    lung_all = anat.lungs[0] | anat.lungs[1]

    renders: list[FindingRender] = []
    eff_side = int(rng.choice([-1, 1]))
    ptx_side = -eff_side if present["Pleural effusion"] else int(rng.choice([-1, 1]))
    if present["Pleural effusion"]:
        renders.append(effusion(rng, anat, eff_side))
    if present["Pneumothorax"]:
        renders.append(pneumothorax(rng, anat, ptx_side, wall_distance(anat.cavity)))
    aerated = lung_all.copy()
    for r in renders:
        aerated &= ~r.mask
    depth = inner_depth(aerated) if present["Nodule/Mass"] or present["Consolidation"] else None
    if present["Nodule/Mass"] and depth is not None:
        n = 1 + int(rng.binomial(config.max_nodules - 1, 0.25))
        for _ in range(n):
            found = nodule(rng, anat, aerated, depth, mass=bool(rng.random() < 0.3))
            if found is None:
                found = nodule(rng, anat, aerated, depth, mass=False)
            if found is not None:
                renders.append(found)
    if present["Consolidation"] and depth is not None:
        found = consolidation(rng, anat, aerated, depth)
        if found is not None:
            renders.append(found)

    image = _compose(rng, anat, renders, lung_all, config)
    letter, letter_mask = laterality_marker(rng, size)
    image = np.where(letter_mask, np.float32(rng.uniform(0.93, 0.99)), image)

    classes_present = {r.class_name for r in renders}
    if present["Cardiomegaly"]:
        classes_present.add("Cardiomegaly")
    p_token = config.p_shortcut_background
    if config.shortcut_class is not None and config.shortcut_class in classes_present:
        p_token = config.p_shortcut
    has_token = config.shortcut_class is not None and bool(rng.random() < p_token)
    token_box: Box | None = None
    if has_token:
        value, token_mask, token_box = shortcut_token(rng, size)
        image = np.where(token_mask, value, image)

    lo_out, hi_out = rng.uniform(0.0, 0.03), rng.uniform(0.9, 1.0)
    image = lo_out + (hi_out - lo_out) * np.clip(image, 0.0, 1.0)
    stored = np.clip(np.rint(image * MAX_STORED), 0, MAX_STORED).astype(np.uint16)
    display = (stored.astype(np.float32) / np.float32(MAX_STORED)).astype(np.float32)

    findings = _true_findings(renders, anat, present["Cardiomegaly"])
    readers = choose_readers(rng, config)
    boxes: list[AnnotatorBox] = []
    for reader in readers:
        for i, f in enumerate(findings):
            if rng.random() < config.annotator_miss_p:
                continue
            boxes.append(
                AnnotatorBox(reader, f.class_name, draw_box(rng, f.box, reader, size, config), i)
            )
    photometric = "MONOCHROME1" if rng.random() < config.monochrome1_fraction else "MONOCHROME2"
    sex = "M" if rng.random() < 0.5 else "F"
    date = _dt.date(2020, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 1500)))
    pid = f"PHANTOM^{case_index + 1:04d}" if case_index is not None else f"PHANTOM^S{seed}"
    return PhantomCase(
        seed=seed,
        image=display,
        stored=stored,
        findings=findings,
        annotations=tuple(boxes),
        readers=readers,
        laterality=letter,
        laterality_box=tight_box(letter_mask),
        shortcut=has_token,
        shortcut_box=token_box,
        photometric=photometric,
        patient_id=pid,
        patient_sex=sex,
        study_date=date.strftime("%Y%m%d"),
        study_uid=_uid(seed, "study"),
        series_uid=_uid(seed, "series"),
        sop_uid=_uid(seed, "sop"),
        heart_mask=anat.heart,
        thorax_mask=anat.cavity,
        lung_mask=lung_all,
        ctr=anat.ctr,
    )


def _compose(
    rng: np.random.Generator,
    anat: Anatomy,
    renders: list[FindingRender],
    lung_all: BoolArray,
    config: PhantomConfig,
) -> FloatArray:
    """Sum the density layers, add findings and detector noise; return display intensity."""
    size = lung_all.shape[0]
    vessels, hila = vessel_tree(rng, anat.params, size)
    no_marks = np.zeros_like(lung_all)
    for r in renders:
        if r.kills_vessels is not None:
            no_marks |= r.kills_vessels
    lung_soft = blur(lung_all & ~no_marks, 0.002 * size)
    vessel_gain = rng.uniform(0.1, 0.16)
    density = anat.body - LUNG_AIR * anat.air + anat.bones
    density = density + vessel_gain * vessels * lung_soft + 0.12 * hila * anat.air
    for r in renders:
        density = density + r.density
    k = rng.uniform(1.15, 1.45)
    image = 1.0 - np.exp(-k * np.clip(density, 0.0, None))
    image = image / (1.0 - np.exp(-k * 1.9))
    sigma = config.noise * rng.uniform(0.6, 1.4)
    noise = rng.standard_normal((size, size)).astype(np.float32)
    noise = blur(noise, 0.6) * 2.0
    image = image + sigma * np.sqrt(np.clip(image, 0.0, 1.0) + 0.05) * noise
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _true_findings(
    renders: list[FindingRender], anat: Anatomy, cardiomegaly: bool
) -> tuple[TrueFinding, ...]:
    out: list[TrueFinding] = []
    for r in renders:
        if not r.mask.any():
            continue
        out.append(
            TrueFinding(
                r.class_name,
                CLASSES.index(r.class_name),
                tight_box(r.mask),
                r.mask,
                "right" if r.side < 0 else "left",
            )
        )
    if cardiomegaly:
        out.append(
            TrueFinding("Cardiomegaly", CLASSES.index("Cardiomegaly"), tight_box(anat.heart),
                        anat.heart, "both")
        )
    out.sort(key=lambda f: f.class_id)
    return tuple(out)
