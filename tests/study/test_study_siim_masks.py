"""SIIM-ACR masks: Diff and EHR-AUC are scored inside the segmentation, not inside its components'
boxes (a pneumothorax is a thin crescent that fills a small part of its box)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine.localise import diff_inside_outside, ehr_auc, energy_pointing_game
from training.study import parse_study, run_study
from training.study.blocks.base import ImageJob
from training.study.data import list_work
from training.study.store import read_results

SIDE = 1024  # SIIM's RLE offsets refer to 1024 x 1024 images


def _crescent(shape: tuple[int, int]) -> np.ndarray:
    """A thin rim (the apical pneumothorax shape): a 12-pixel band of a circle's upper-left arc."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - 0.55 * shape[0], xx - 0.45 * shape[1])
    return (r > 0.30 * shape[0]) & (r < 0.30 * shape[0] + 12 * shape[0] / SIDE) & (yy < 0.45 * shape[0]) \
        & (xx < 0.45 * shape[1])


def _rle(mask: np.ndarray) -> str:
    """SIIM's relative column-major RLE, written out independently of the engine's encoder."""
    flat = mask.ravel(order="F")
    out, previous_end, i = [], 0, 0
    while i < flat.size:
        if flat[i]:
            j = i
            while j < flat.size and flat[j]:
                j += 1
            out += [i - previous_end, j - i]
            previous_end, i = j, j
        else:
            i += 1
    return " ".join(str(v) for v in out)


def _lung_map(shape: tuple[int, int]) -> np.ndarray:
    """A map that lights the lung inside the crescent's box but misses the rim itself."""
    m = np.zeros(shape)
    ys, xs = np.nonzero(_crescent(shape))
    m[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = 1.0
    m[_crescent(shape)] = 0.0
    return m + 1e-3 * np.arange(m.size).reshape(shape) / m.size  # no ties, as a real map


def test_diff_ehr_and_energy_inside_a_mask_follow_their_formulas() -> None:
    shape = (96, 96)
    mask = _crescent(shape)
    m = _lung_map(shape)
    ys, xs = np.nonzero(mask)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    assert mask.sum() < 0.35 * (box[2] - box[0]) * (box[3] - box[1])  # the rim fills a small part of its box
    assert diff_inside_outside(m, [box], mask=mask) == pytest.approx(m[mask].mean() - m[~mask].mean(), rel=1e-12)
    assert energy_pointing_game(m, [box], mask=mask) == pytest.approx(m[mask].sum() / m.sum(), rel=1e-12)
    # EHR: share of kept pixels inside the mask at 100 thresholds of the min-max map, trapezoid over t
    norm = (m - m.min()) / (m.max() - m.min())
    t = np.linspace(0, 1, 100)
    share = np.array([(mask & (norm >= tk)).sum() / (norm >= tk).sum() for tk in t])
    assert ehr_auc(m, [box], mask=mask) == pytest.approx(float(np.trapezoid(share, t)), rel=1e-9)
    # the box would call this lung map a good localiser; the mask does not
    assert diff_inside_outside(m, [box]) > 0.5 > 0 > diff_inside_outside(m, [box], mask=mask)
    with pytest.raises(Exception, match="GT mask"):
        diff_inside_outside(m, [box], mask=mask[:10])


@pytest.fixture(scope="module")
def siim_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 1024-pixel images: one with a crescent pneumothorax (two RLE rows: its halves), one negative."""
    root = tmp_path_factory.mktemp("siim")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    for name in ("1.2.3.1", "1.2.3.2"):
        Image.fromarray(rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8)).save(root / "images" / f"{name}.png")
    mask = _crescent((SIDE, SIDE))
    left, right = mask.copy(), mask.copy()
    left[:, SIDE // 4:] = False
    right[:, : SIDE // 4] = False
    with (root / "train-rle.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["ImageId", " EncodedPixels"], ["1.2.3.1", _rle(left)], ["1.2.3.1", _rle(right)],
                     ["1.2.3.2", "-1"]])
    return root


def test_the_work_list_carries_the_masks(siim_set: Path) -> None:
    cfg = parse_study("name: s\ndata: {format: siim}\n").with_overrides(folder=str(siim_set))
    work = list_work(cfg.data, ("Pneumothorax",))
    pos, neg = work.items
    assert pos.labels == {"Pneumothorax": 1} and neg.labels == {"Pneumothorax": 0}
    assert len(pos.masks["Pneumothorax"]) == 2 and neg.masks == {}
    assert np.array_equal(pos.mask_of("Pneumothorax", (SIDE, SIDE)), _crescent((SIDE, SIDE)))
    assert pos.mask_of("Cardiomegaly", (SIDE, SIDE)) is None
    # a copy resized to 512 px: the 1024-px mask sampled at the new pixel centres (every second pixel)
    assert np.array_equal(pos.mask_of("Pneumothorax", (SIDE // 2, SIDE // 2)), _crescent((SIDE, SIDE))[1::2, 1::2])
    assert type(pos).from_row(pos.to_row()) == pos  # through a Ray Data row and back


class _Known:
    """An explanation result whose every class map is the lung map (the engine's map interface)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.m = _lung_map(shape)

    def map(self, class_name: str, space: str = "image", normalisation: str = "minmax") -> np.ndarray:
        return self.m.copy()


def test_the_study_scores_diff_and_ehr_inside_the_mask(siim_set: Path, tiny_bundle: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def explain_tasks(self: ImageJob, tasks: Any, classes: Any = None) -> list[_Known]:
        return [_Known(self.image.shape[:2]) for _ in tasks]

    monkeypatch.setattr(ImageJob, "explain_tasks", explain_tasks)
    cfg = parse_study(f'name: s\nmodels: ["{tiny_bundle}"]\ndata: {{format: siim}}\nmethods: [{{name: gradcam}}]\n')
    out = tmp_path / "out"
    run_study(cfg.with_overrides(folder=str(siim_set)), out, workers=0, progress=False)
    rows = [r for r in read_results(out).to_pylist() if r["class"] == "Pneumothorax" and r["n_gt_boxes"]]
    assert len(rows) == 1
    row = rows[0]
    mask = _crescent((SIDE, SIDE))
    m = _lung_map((SIDE, SIDE))
    assert row["gt_region"] == "mask"
    assert row["diff"] == pytest.approx(m[mask].mean() - m[~mask].mean(), rel=1e-9)
    assert row["diff"] < 0  # inside the boxes it would be > 0.5
    table = (out / "tables" / "diff_ehr.csv").read_text().splitlines()
    header = table[0].split(",")
    assert header[-1] == "gt_region"
    assert any(line.endswith(",mask") for line in table[1:])
