"""The robustness and sanity blocks: validation, known answers on synthetic cases, tables against
independent references (scipy, scikit-image, AUC by pair counting), and the block registry."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from study_helpers import tiny_resnet

from training.study import StudyConfigError, load_study, parse_study
from training.study.blocks import BLOCKS, ImageJob
from training.study.blocks.robustness import RobustnessBlock
from training.study.blocks.sanity import SanityBlock, cascade, cascade_modules, map_similarity
from training.study.blocks.stats import pearson, ranks, spearman
from training.study.data import WorkItem
from training.study.score import ModelPlan, Task, forward_probabilities
from training.study.store import write_part
from training.study.tables import render_tables


def _pair_auc(labels: list[int], scores: list[float]) -> float:
    """ROC AUC as the share of (positive, negative) pairs ranked right, ties counting 1/2."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    won = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return won / (len(pos) * len(neg))


def _table(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_registry_and_presets() -> None:
    assert list(BLOCKS) == ["localisation", "perturbation", "robustness", "sanity", "classification", "gaze",
                           "regression"]
    rob = load_study("preset:robustness")
    assert rob.metrics == ("robustness",) and [m.name for m in rob.methods] == ["gradcampp"]
    assert rob.methods[0].layers == tuple(f"layer{i}.{j}" for i in (1, 2, 3, 4) for j in (0, 1))
    from engine.perturb.corruptions import CORRUPTIONS

    settings = rob.block_settings()["robustness"]
    assert settings["corruptions"] == list(CORRUPTIONS) and settings["severities"] == [1, 2, 3, 4, 5]
    san = load_study("preset:sanity")
    assert san.metrics == ("sanity",) and san.block_settings()["sanity"]["cascade"] == "auto"
    assert san.block_settings()["sanity"]["classes"] == "predicted"  # the paper explains the predicted class


def test_block_sections_are_validated_with_lines_and_accepted_values() -> None:
    text = """\
metrics: [robustness, sanity, robustness]
robustness:
  corruptions: [fog, contrast]
  severities: [0, 2, 2]
  scale: raw
  colour: red
sanity:
  seed: -1
  cascade: []
  classes: positive
"""
    with pytest.raises(StudyConfigError) as info:
        parse_study(text, source="bad.yaml")
    problems = {(p.line, p.key): p for p in info.value.problems}
    assert set(problems) == {(1, "metrics"), (3, "robustness.corruptions[0]"), (4, "robustness.severities[0]"),
                             (4, "robustness.severities[2]"), (5, "robustness.scale"), (6, "robustness.colour"),
                             (8, "sanity.seed"), (9, "sanity.cascade"), (10, "sanity.classes")}
    assert "predicted" in problems[(10, "sanity.classes")].accepted
    assert "gaussian_noise" in problems[(3, "robustness.corruptions[0]")].accepted
    assert "per_map" in problems[(5, "robustness.scale")].accepted
    assert "severities" in problems[(6, "robustness.colour")].accepted
    with pytest.raises(StudyConfigError) as info:
        parse_study("sanitee: {}\n")
    accepted = info.value.problems[0].accepted
    assert "robustness" in accepted and "sanity" in accepted and "thresholds" in accepted


def test_rank_statistics_equal_scipy() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 40).astype(float)  # many ties
    b = a + rng.normal(0, 2, 40)
    assert np.array_equal(ranks(a), sps.rankdata(a))
    assert spearman(a, b) == pytest.approx(sps.spearmanr(a, b).statistic, abs=1e-12)
    assert pearson(a, b) == pytest.approx(sps.pearsonr(a, b).statistic, abs=1e-12)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and pearson([1, 2], [2, 1]) is None


def _rob_row(image: str, cls: str, label: int, p_clean: float, p: list[float], rmse: list[float],
             ssim: list[float]) -> dict[str, Any]:
    return {"image": image, "model": "m" * 64, "model_name": "synthetic", "model_version": "1",
            "block": "robustness", "method": "gradcampp", "layer": "layer4.1", "params_hash": "r" * 16,
            "params": "{}", "class": cls, "probability": p_clean, "label": label, "predicted": p_clean >= 0.5,
            "conditions": ["contrast:1", "contrast:5", "gaussian_noise:3"], "p_clean": p_clean, "p_corrupted": p,
            "map_rmse": rmse, "map_ssim": ssim}


def test_robustness_tables_against_independent_references(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = {"A": [1, 0, 1, 0, 1], "B": [0, 0, 1, 1, 0]}
    rows = []
    for cls, ys in labels.items():
        for i, y in enumerate(ys):
            p, rmse, ssim = rng.uniform(size=3), rng.uniform(0, 0.5, 3), rng.uniform(0.3, 1, 3)
            rows.append(_rob_row(f"{i}.png", cls, y, float(rng.uniform()), p.tolist(), rmse.tolist(), ssim.tolist()))
    write_part(tmp_path, rows)
    render_tables(tmp_path, settings={"robustness": {}})
    assert not (tmp_path / "tables" / "iou_by_threshold.csv").exists()  # only the blocks asked for
    table = {(r["class"], r["corruption"], r["severity"]): r for r in _table(tmp_path / "tables" / "robustness.csv")}
    deltas: dict[str, list[float]] = {}
    for cls, ys in labels.items():
        crs = [r for r in rows if r["class"] == cls]
        clean = _pair_auc(ys, [r["p_clean"] for r in crs])
        deltas[cls] = []
        for k, cond in enumerate(crs[0]["conditions"]):
            corruption, severity = cond.split(":")
            got = table[(cls, corruption, severity)]
            delta = _pair_auc(ys, [r["p_corrupted"][k] for r in crs]) - clean
            deltas[cls].append(delta)
            assert float(got["auc_clean"]) == pytest.approx(clean, abs=5e-7)
            assert float(got["delta_auc"]) == pytest.approx(delta, abs=5e-7)
            assert float(got["rmse_mean"]) == pytest.approx(statistics.mean(r["map_rmse"][k] for r in crs), abs=5e-7)
            assert float(got["ssim_std"]) == pytest.approx(statistics.stdev(r["map_ssim"][k] for r in crs), abs=5e-7)
            assert got["n"] == "5"
    # the class "all": ΔAUC averaged over the classes, RMSE over every map
    all_rows = [table[("all", *c.split(":"))] for c in rows[0]["conditions"]]
    mean_delta = [statistics.mean(v) for v in zip(*deltas.values(), strict=True)]
    assert [float(r["delta_auc"]) for r in all_rows] == pytest.approx(mean_delta, abs=5e-7)
    all_rmse = [statistics.mean(r["map_rmse"][k] for r in rows) for k in range(3)]
    assert [float(r["rmse_mean"]) for r in all_rows] == pytest.approx(all_rmse, abs=5e-7)
    corr = {r["class"]: r for r in _table(tmp_path / "tables" / "robustness_correlation.csv")}
    rmse_a = [float(table[("A", *c.split(":"))]["rmse_mean"]) for c in rows[0]["conditions"]]
    assert float(corr["A"]["pearson_rmse_delta_auc"]) == pytest.approx(
        sps.pearsonr(rmse_a, deltas["A"]).statistic, abs=5e-6)
    assert float(corr["A"]["spearman_rmse_delta_auc"]) == pytest.approx(
        sps.spearmanr(rmse_a, deltas["A"]).statistic, abs=5e-6)
    assert corr["all"]["n_conditions"] == "3"
    assert (tmp_path / "figures" / "robustness.png").read_bytes().startswith(b"\x89PNG")


def _job(model: Any, image: np.ndarray, name: str = "img.png", labels: dict[str, int] | None = None) -> ImageJob:
    plan = ModelPlan("mem", "", model.weights_sha256, model.name, model.version, model.class_names,
                     (0.5,) * len(model.class_names), ())
    item = WorkItem(name, name, labels or {}, {})
    return ImageJob(model, plan, item, image, forward_probabilities(model, image))


def test_a_corruption_that_changes_nothing_moves_nothing(tmp_path: Path) -> None:
    """On constant images, contrast changes no pixel (nor brightness on a white one): ΔAUC 0, RMSE 0, SSIM 1;
    Gaussian noise on the same images does move the map (the control)."""
    model = tiny_resnet()
    block = RobustnessBlock()
    task = Task("gradcampp", "layer2.1", {"fusion": "mean"}, "h" * 16, "robustness")
    settings = {"corruptions": ["contrast", "brightness", "gaussian_noise"], "severities": [5], "seed": 0,
                "scale": "clean"}
    rows = []
    for i, (level, label) in enumerate(((1.0, 1), (0.3, 0), (0.6, 1), (0.45, 0))):
        image = np.full((40, 40), level, np.float32)
        rows += block.image_rows(_job(model, image, f"{i}.png", {c: label for c in "abc"}), [task], settings)
    assert len(rows) == 4 * 3 and rows[0]["conditions"] == ["contrast:5", "brightness:5", "gaussian_noise:5"]
    for r in rows:
        assert r["map_rmse"][0] == pytest.approx(0.0, abs=1e-6) and r["map_ssim"][0] == pytest.approx(1.0, abs=1e-6)
        assert r["p_corrupted"][0] == pytest.approx(r["p_clean"], abs=1e-7)
        assert r["map_rmse"][2] > 1e-3  # noise moves the map
    white = [r for r in rows if r["image"] == "0.png"]
    assert all(r["map_rmse"][1] == pytest.approx(0.0, abs=1e-6) for r in white)  # brightness clips at white
    write_part(tmp_path, rows)
    render_tables(tmp_path, settings={"robustness": settings})
    table = _table(tmp_path / "tables" / "robustness.csv")
    contrast = [r for r in table if r["corruption"] == "contrast"]
    assert len(contrast) == 4 and all(float(r["delta_auc"]) == 0.0 and float(r["rmse_mean"]) == 0.0 and
                                      float(r["ssim_mean"]) == 1.0 for r in contrast)


def test_sanity_cascade_randomises_the_head_first_on_a_copy() -> None:
    import torch

    model = tiny_resnet()
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    names = cascade_modules(model.module)
    assert names == ["fc", "layer2.1", "layer2.0", "layer1.1", "layer1.0", "bn1", "conv1"]
    image = np.random.default_rng(0).uniform(size=(40, 40)).astype(np.float32)
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 1, 32, 32)).astype(np.float32))
    seen: list[torch.Tensor] = []
    for step, name, randomised in cascade(model, names[:2], seed=0):
        hook = randomised.module.layer2[1].register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
        logits = randomised.module(x)
        hook.remove()
        ref_act = model.module.layer2(model.module.layer1(torch.relu(model.module.bn1(model.module.conv1(x)))))
        if step == 0:  # only the head is random: the trunk's activations are the original ones, the logits not
            assert name == "fc" and torch.equal(seen[-1], ref_act)
            assert not torch.allclose(logits, model.module(x))
        else:
            assert name == "layer2.1" and not torch.allclose(seen[-1], ref_act)
    for k, v in model.module.state_dict().items():  # the loaded model is untouched
        assert torch.equal(v, before[k]), k

    block = SanityBlock()
    settings = {"cascade": "auto", "seed": 0, "max_steps": 2}
    task = Task("gradcam", "layer2.1", {"fusion": "mean"}, "s" * 16, "sanity")
    rows = block.image_rows(_job(model, image), [task], settings)
    again = block.image_rows(_job(model, image), [task], settings)  # seeded: the same randomised networks
    assert [r["sanity_ssim"] for r in rows] == [r["sanity_ssim"] for r in again]
    assert rows[0]["cascade"] == ["fc", "layer2.1"]
    assert any(r["sanity_ssim"][0] < 0.999 for r in rows)  # the randomised head changed the maps
    for k, v in model.module.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_sanity_score_cam_scores_every_step_on_that_steps_weights() -> None:
    """Score-CAM scores its masked inputs on the model's faster copy. The cascade randomises one network
    in place, step after step: each step's rows must equal an explanation of an independent network
    randomised up to that step (before the fix the copy kept the first step's weights)."""
    import copy
    import dataclasses

    from engine import explain
    from training.study.blocks.sanity import randomise_

    model = tiny_resnet(n_classes=3, seed=4)
    image = np.random.default_rng(5).uniform(size=(40, 40)).astype(np.float32)
    task = Task("scorecam", "layer2.1", {"fusion": "mean"}, "c" * 16, "sanity")
    settings = {"cascade": "auto", "seed": 3, "max_steps": 4, "classes": "all"}
    rows = {r["class"]: r for r in SanityBlock().image_rows(_job(model, image), [task], settings)}

    def maps(m: Any) -> dict[str, np.ndarray]:
        r = explain(m, image, method="scorecam", layers=["layer2.1"], classes=list(model.class_names))
        return {c: r.map(c, "model", normalisation="raw") for c in model.class_names}

    original = maps(model)
    names = cascade_modules(model.module)[:4]
    for k in range(len(names)):
        net = copy.deepcopy(model.module)  # a fresh network: no copy of it has ever been made
        modules = dict(net.named_modules())
        for j in range(k + 1):
            randomise_(modules[names[j]], 3, j)
        now = maps(dataclasses.replace(model, module=net))
        for c in model.class_names:
            ssim, rank = map_similarity(original[c], now[c])
            assert rows[c]["sanity_ssim"][k] == pytest.approx(ssim, abs=1e-5), (k, c)
            assert rows[c]["sanity_spearman"][k] == pytest.approx(rank, abs=1e-5), (k, c)


def test_sanity_on_the_predicted_classes_is_the_all_classes_rows_of_those_classes() -> None:
    """``sanity.classes: predicted`` explains the classes at or above their thresholds (the top one
    when none is): the same rows, with the same similarities, as ``all`` gives for those classes."""
    import dataclasses

    model = tiny_resnet(n_classes=4, seed=6)
    image = np.random.default_rng(8).uniform(size=(40, 40)).astype(np.float32)
    block = SanityBlock()
    task = Task("gradcam", "layer2.1", {"fusion": "mean"}, "p" * 16, "sanity")
    settings = {"cascade": "auto", "seed": 0, "max_steps": 3}
    everything = {r["class"]: r for r in block.image_rows(_job(model, image), [task], {**settings, "classes": "all"})}
    assert sorted(everything) == sorted(model.class_names)
    for thresholds in ("median", "above every probability"):
        job = _job(model, image)
        p = np.asarray(job.probabilities)
        cut = float(np.median(p)) if thresholds == "median" else 2.0
        job.plan = dataclasses.replace(job.plan, thresholds=(cut,) * len(p))
        names = model.class_names
        want = [c for c, q in zip(names, p, strict=True) if q >= cut] or [names[int(p.argmax())]]
        assert 0 < len(want) < len(p)
        rows = block.image_rows(job, [task], {**settings, "classes": "predicted"})
        assert [r["class"] for r in rows] == want
        for r in rows:
            same = everything[r["class"]]
            assert r["sanity_ssim"] == pytest.approx(same["sanity_ssim"], abs=1e-6)  # float32 gradients
            assert r["sanity_spearman"] == pytest.approx(same["sanity_spearman"], abs=1e-6)
            assert r["predicted"] == (r["probability"] >= cut)


def test_map_similarity_equals_skimage_and_scipy() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(2)
    a = rng.uniform(size=(32, 32))
    b = 0.5 * a + rng.uniform(size=(32, 32)) ** 2
    ssim, rank = map_similarity(a, b)

    def unit(m: np.ndarray) -> np.ndarray:
        return (m - m.min()) / (m.max() - m.min())

    assert ssim == pytest.approx(structural_similarity(unit(a), unit(b), data_range=1.0, win_size=7), abs=1e-12)
    assert rank == pytest.approx(sps.spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert map_similarity(a, a) == (pytest.approx(1.0), pytest.approx(1.0))


def test_robustness_rows_equal_maps_recomputed_here() -> None:
    """The block's RMSE and SSIM equal those computed here from the engine's corrupted image and maps
    (model resolution, the per-image seed, clean-map scale), with NumPy and scikit-image."""
    from skimage.metrics import structural_similarity

    from engine import explain
    from engine.perturb.corruptions import corrupt
    from engine.perturb.frame import make_frame
    from training.study.blocks.stats import image_seed

    model = tiny_resnet(seed=4)
    image = np.random.default_rng(5).uniform(size=(40, 40)).astype(np.float32)
    task = Task("gradcampp", "layer1.1", {"fusion": "mean"}, "h" * 16, "robustness")
    settings = {"corruptions": ["gaussian_noise"], "severities": [5], "seed": 7, "scale": "clean"}
    rows = RobustnessBlock().image_rows(_job(model, image, "x.png"), [task], settings)
    clean = make_frame(model, image, "model").base
    noisy = corrupt(clean, "gaussian_noise", 5, image_seed(7, "x.png"))
    a_res = explain(model, clean, "gradcampp", layers=["layer1.1"])
    b_res = explain(model, noisy, "gradcampp", layers=["layer1.1"])
    for row in rows:
        a = a_res.map(row["class"], "model", normalisation="raw").astype(np.float64)
        b = b_res.map(row["class"], "model", normalisation="raw").astype(np.float64)
        lo, span = a.min(), a.max() - a.min()
        a, b = (a - lo) / span, (b - lo) / span
        assert row["map_rmse"] == pytest.approx([np.sqrt(np.mean((a - b) ** 2))], abs=1e-9)
        assert row["map_ssim"] == pytest.approx([structural_similarity(a, b, data_range=1.0, win_size=7)], abs=1e-9)
        assert row["p_corrupted"] == pytest.approx([float(b_res.probabilities[model.class_names.index(row["class"])])])
    assert rows[0]["map_rmse"][0] > 1e-3


def test_an_image_gets_one_forward_shared_by_its_rows_and_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image with boxes: the localisation block's Grad-CAM hands its forward to every row and to the
    classification block (no forward of the job's own); without boxes: one forward for both blocks.
    Probabilities and logits equal a plain float32 forward's (computed here first) bit for bit."""
    import training.study.score as score
    from training.study.blocks import get_block

    model = tiny_resnet()
    rng = np.random.default_rng(4)
    image = rng.random((40, 40)).astype(np.float32)
    want_logits = score.forward_logits(model, image)
    want_p = score.probabilities_of(model, want_logits)
    calls: list[int] = []
    real = score.forward_logits

    def counted(m: Any, im: np.ndarray) -> np.ndarray:
        calls.append(1)
        return real(m, im)

    monkeypatch.setattr(score, "forward_logits", counted)
    loc = load_study("preset:localisation").block_settings()["localisation"]
    tasks = [Task("gradcam", "layer2.1", {"fusion": "mean"}, "g" * 16, "localisation"),
             Task("gradcampp", "layer1.1", {"fusion": "mean"}, "p" * 16, "localisation")]
    cls_task = Task("gradcam", "layer2.1", {}, "c" * 16, "classification")
    plan = ModelPlan("mem", "", model.weights_sha256, model.name, model.version, model.class_names,
                     (0.5,) * 3, ())
    for boxes, forwards in (({"b": {"r1": [[4.0, 4.0, 20.0, 20.0]]}}, 0), ({}, 1)):
        calls.clear()
        job = ImageJob(model, plan, WorkItem("x.png", "x.png", {"a": 0, "b": int(bool(boxes)), "c": 0}, boxes), image)
        rows = get_block("localisation").image_rows(job, tasks, loc)
        rows += get_block("classification").image_rows(job, [cls_task], {})
        assert len(calls) == forwards and job.forwards == forwards
        assert len(rows) == 3 * 3 and [r["probability"] for r in rows] == [float(p) for p in want_p] * 3
        assert [r["logit"] for r in rows[6:]] == [float(v) for v in want_logits]
        assert (rows[1]["iou_mean"] is not None) == bool(boxes)


def test_sanity_table_statistics_match_ones_computed_by_hand() -> None:
    import csv
    import io
    import statistics

    from training.study.blocks.sanity import SanityBlock

    base = {"model": "m", "model_name": "M", "method": "gradcam", "layer": "l", "params_hash": "h", "params": "{}",
            "cascade": ["fc", "layer4"]}
    rho = {"a": [-0.8, 0.1], "b": [0.6, None], "c": [0.2, 0.3]}  # None: a map made constant
    rows = [{**base, "image": i, "class": "X" if i != "c" else "Y", "sanity_ssim": [0.5, 0.25],
             "sanity_spearman": rho[i]} for i in "abc"]
    table = SanityBlock().tables(rows, {})["sanity.csv"]
    got = {(r["class"], r["step"]): r for r in csv.DictReader(io.StringIO(table))}
    fc = got[("all", "1")]
    assert float(fc["spearman_mean"]) == pytest.approx(statistics.mean([-0.8, 0.6, 0.2]), abs=5e-7)
    assert float(fc["abs_spearman_mean"]) == pytest.approx(statistics.mean([0.8, 0.6, 0.2]), abs=5e-7)
    assert float(fc["abs_spearman_std"]) == pytest.approx(statistics.stdev([0.8, 0.6, 0.2]), abs=5e-7)
    l4 = got[("all", "2")]
    assert (l4["n"], l4["spearman_n"]) == ("3", "2")  # SSIM over 3 maps, Spearman over the 2 defined
    assert float(l4["abs_spearman_mean"]) == pytest.approx(0.2, abs=5e-7)
    assert got[("X", "1")]["spearman_mean"] == "-0.100000"
