"""Phantom generator: determinism, exact boxes, annotators, CTR, class rates, shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from training.phantom import (
    CLASSES,
    PhantomCase,
    PhantomConfig,
    PhantomConfigError,
    box_iou,
    cardiothoracic_ratio,
    generate_case,
    tight_box,
)

SIZE = 256
N_CASES = 200


@pytest.fixture(scope="module")
def config() -> PhantomConfig:
    return PhantomConfig(size=SIZE, shortcut_class="Pneumothorax", p_shortcut=0.9,
                         p_shortcut_background=0.02)


@pytest.fixture(scope="module")
def cases(config: PhantomConfig) -> list[PhantomCase]:
    return [generate_case(seed, config) for seed in range(N_CASES)]


def test_same_seed_is_bit_identical() -> None:
    cfg = PhantomConfig(size=SIZE)
    a, b = generate_case(7, cfg), generate_case(7, cfg)
    assert np.array_equal(a.stored, b.stored)
    assert a.image.tobytes() == b.image.tobytes()
    assert [f.box for f in a.findings] == [f.box for f in b.findings]
    assert all(np.array_equal(f.mask, g.mask) for f, g in zip(a.findings, b.findings, strict=True))
    assert a.annotations == b.annotations
    assert (a.study_uid, a.sop_uid, a.laterality) == (b.study_uid, b.sop_uid, b.laterality)


def test_different_seeds_differ() -> None:
    cfg = PhantomConfig(size=SIZE)
    a, b = generate_case(1, cfg), generate_case(2, cfg)
    assert not np.array_equal(a.stored, b.stored)
    assert a.sop_uid != b.sop_uid


def test_image_ranges(cases: list[PhantomCase]) -> None:
    for case in cases[:20]:
        assert case.stored.dtype == np.uint16 and case.stored.shape == (SIZE, SIZE)
        assert int(case.stored.max()) <= 4095
        assert case.image.dtype == np.float32
        assert 0.0 <= float(case.image.min()) and float(case.image.max()) <= 1.0
        np.testing.assert_array_equal(case.image, case.stored.astype(np.float32) / np.float32(4095))
        assert case.laterality in ("L", "R")
        assert case.photometric in ("MONOCHROME1", "MONOCHROME2")


def test_anatomy_contrast(cases: list[PhantomCase]) -> None:
    """Lungs are dark, the heart and mediastinum bright, outside the body black."""
    for case in cases[:10]:
        lung = float(np.median(case.image[case.lung_mask]))
        heart = float(np.median(case.image[case.heart_mask]))
        corner = float(np.median(case.image[-8:, :4]))
        assert heart > lung + 0.25
        assert corner < lung


def test_true_boxes_are_tight_boxes_of_masks(cases: list[PhantomCase]) -> None:
    for case in cases:
        for f in case.findings:
            assert f.mask.shape == (SIZE, SIZE) and f.mask.dtype == np.bool_
            assert f.box == tight_box(f.mask)
            x0, y0, x1, y1 = f.box
            assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
            assert f.class_name == CLASSES[f.class_id]


def test_tight_box_convention() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:8] = True  # rows 2..4, cols 3..7
    assert tight_box(mask) == (3.0, 2.0, 8.0, 5.0)


def test_findings_lie_in_their_organs(cases: list[PhantomCase]) -> None:
    for case in cases:
        for f in case.findings:
            if f.class_name == "Cardiomegaly":
                assert np.array_equal(f.mask, case.heart_mask)
            else:  # nodules, effusions, pneumothoraces and consolidations are in a lung field
                assert not (f.mask & ~case.lung_mask).any()


def test_nodule_and_mass_diameters_are_in_millimetre_ranges(cases: list[PhantomCase]) -> None:
    # 10-30 mm nodules and 30-60 mm masses, lobulated by at most 10 %, measured on the tight box
    # with the patient-plane pixel spacing the DICOM writer records (one pixel of slack a side).
    from training.phantom.writers import pixel_spacing_mm

    mm = pixel_spacing_mm(SIZE)[0]
    diameters = [
        max(f.box[2] - f.box[0], f.box[3] - f.box[1]) * mm
        for case in cases for f in case.findings if f.class_name == "Nodule/Mass"
    ]
    assert len(diameters) > 20
    assert min(diameters) >= 10.0 * 0.95 - 2 * mm and max(diameters) <= 60.0 * 1.1 + 2 * mm
    assert any(d < 20.0 for d in diameters) and any(d > 40.0 for d in diameters)


def test_annotator_boxes_overlap_truth(cases: list[PhantomCase]) -> None:
    n_boxes = 0
    for case in cases:
        assert 1 <= len(case.readers) <= 3
        assert all(r.startswith("R") and 1 <= int(r[1:]) <= 17 for r in case.readers)
        for a in case.annotations:
            truth = case.findings[a.finding_index]
            assert a.class_name == truth.class_name
            assert a.annotator in case.readers
            assert box_iou(a.box, truth.box) > 0.5
            assert 0 <= a.box[0] < a.box[2] <= SIZE and 0 <= a.box[1] < a.box[3] <= SIZE
            n_boxes += 1
    assert n_boxes > 100
    # annotators disagree: most boxes are not identical to the truth
    exact = sum(
        a.box == case.findings[a.finding_index].box for case in cases for a in case.annotations
    )
    assert exact < 0.2 * n_boxes


def test_cardiothoracic_ratio(cases: list[PhantomCase]) -> None:
    for case in cases:
        ctr = cardiothoracic_ratio(case.heart_mask, case.thorax_mask)
        assert ctr == pytest.approx(case.ctr)
        if "Cardiomegaly" in case.class_names:
            assert ctr > 0.5
            heart = next(f for f in case.findings if f.class_name == "Cardiomegaly")
            assert heart.box == tight_box(case.heart_mask)
        else:
            assert ctr < 0.5


def test_class_rates(cases: list[PhantomCase], config: PhantomConfig) -> None:
    for name in CLASSES:
        rate = sum(name in c.class_names for c in cases) / len(cases)
        assert abs(rate - config.prob(name)) < 0.1, (name, rate)
    normals = sum(c.is_normal for c in cases) / len(cases)
    assert 0.2 <= normals <= 0.45
    assert any(len(c.class_names) >= 2 for c in cases)  # findings co-occur


def test_configured_rates_are_followed() -> None:
    cfg = PhantomConfig(size=128, finding_probs={"Pleural effusion": 1.0})
    cases = [generate_case(s, cfg) for s in range(10)]
    assert all(c.class_names == ("Pleural effusion",) for c in cases)


def test_shortcut_correlates_with_class(cases: list[PhantomCase]) -> None:
    with_class = [c for c in cases if "Pneumothorax" in c.class_names]
    without = [c for c in cases if "Pneumothorax" not in c.class_names]
    assert len(with_class) >= 20
    assert sum(c.shortcut for c in with_class) / len(with_class) > 0.75
    assert sum(c.shortcut for c in without) / len(without) < 0.08
    for c in cases:
        assert (c.shortcut_box is not None) == c.shortcut
        if c.shortcut_box is not None:
            x0, y0, x1, y1 = c.shortcut_box
            assert float(c.image[int(y0):int(y1), int(x0):int(x1)].max()) > 0.85


def test_no_shortcut_by_default() -> None:
    cases = [generate_case(s, PhantomConfig(size=128)) for s in range(20)]
    assert not any(c.shortcut for c in cases)


@pytest.mark.parametrize("size", [256, 1024])
def test_anatomy_is_proportional(size: int) -> None:
    ref = generate_case(3, PhantomConfig(size=512))
    case = generate_case(3, PhantomConfig(size=size))
    assert case.stored.shape == (size, size)
    assert case.lung_mask.mean() == pytest.approx(ref.lung_mask.mean(), rel=0.05)
    assert case.ctr == pytest.approx(ref.ctr, abs=0.02)
    assert case.class_names == ref.class_names
    for f, g in zip(case.findings, ref.findings, strict=True):
        if f.class_name != "Consolidation":  # its texture noise is drawn per pixel
            assert np.allclose(np.array(f.box) / size, np.array(g.box) / 512, atol=0.03)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 64},
        {"finding_probs": {"Fracture": 0.5}},
        {"finding_probs": {"Pneumothorax": 1.5}},
        {"n_annotators": (0, 2)},
        {"shortcut_class": "Fracture"},
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(PhantomConfigError):
        PhantomConfig(**kwargs)  # type: ignore[arg-type]


def test_config_round_trip() -> None:
    cfg = PhantomConfig(size=256, shortcut_class="Cardiomegaly", n_annotators=(2, 3))
    assert PhantomConfig.from_dict(cfg.to_dict()) == cfg
