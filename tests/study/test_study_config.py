"""Study files are validated before any work: every problem at once, with lines and accepted values."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.study import StudyConfigError, list_presets, load_study, parse_study
from training.study.plan import plan_models
from viewer.cli import main

BAD = """\
name: broken
colour: blue
data:
  format: dicomdir
  limit: -3
methods:
  - name: gradcam
    params: {fusion: mean, sharpness: 2}
  - name: gradcum
  - name: smoothgrad
    layers: [layer4]
    params:
      n: 0
thresholds:
  top_fraction: [0.05, 1.5]
  otsu: maybe
metrics: [localisation, saliency]
localisation:
  policies: [mean, median]
"""


def test_every_problem_is_listed_with_its_line_and_accepted_values() -> None:
    with pytest.raises(StudyConfigError) as info:
        parse_study(BAD, source="bad.yaml")
    problems = {(p.line, p.key): p for p in info.value.problems}
    expected = {
        (2, "colour"), (4, "data.format"), (5, "data.limit"), (8, "methods[0].params.sharpness"),
        (9, "methods[1].name"), (11, "methods[2].layers"), (13, "methods[2].params.n"),
        (15, "thresholds.top_fraction[1]"), (16, "thresholds.otsu"), (17, "metrics[1]"),
        (19, "localisation.policies[1]"),
    }
    assert set(problems) == expected
    assert "phantom" in problems[(4, "data.format")].accepted and "siim" in problems[(4, "data.format")].accepted
    assert "gradcam" in problems[(9, "methods[1].name")].accepted
    assert "name" in problems[(2, "colour")].accepted and "methods" in problems[(2, "colour")].accepted
    assert "unknown metric block 'saliency'" in problems[(17, "metrics[1]")].message
    assert "gaze" in problems[(17, "metrics[1]")].accepted  # the accepted list names every registered block
    text = str(info.value)
    assert text.startswith("bad.yaml: the study file has 11 problem(s)")
    assert "line 15: thresholds.top_fraction[1]" in text


def test_yaml_syntax_error_names_its_line() -> None:
    with pytest.raises(StudyConfigError) as info:
        parse_study("name: x\nmethods: [gradcam\nthresholds: {}\n")
    assert info.value.problems[0].key == "yaml" and info.value.problems[0].line >= 2


def test_presets_are_valid_and_listed() -> None:
    presets = list_presets()
    assert {"localisation", "evaluate"} <= set(presets)
    loc = load_study("preset:localisation")
    assert [m.name for m in loc.methods] == ["gradcam", "smoothgrad"]
    assert loc.thresholds()[:7] == ("top:0.01", "top:0.02", "top:0.03", "top:0.05", "top:0.08", "top:0.1", "top:0.2")
    assert "otsu" in loc.thresholds() and loc.policies == ("mean", "best", "fused")
    ev = load_study("preset:evaluate")
    assert ev.thresholds() == loc.thresholds()[:7] and ev.policies == ("mean", "best")
    with pytest.raises(StudyConfigError, match="localisation"):
        load_study("preset:nope")


def test_unknown_layer_is_refused_with_the_models_layers(tiny_bundle: Path) -> None:
    cfg = parse_study(f'models: ["{tiny_bundle}"]\nmethods:\n  - {{name: gradcam, layers: [layer4, default]}}\n')
    with pytest.raises(StudyConfigError) as info:
        plan_models(cfg)
    (problem,) = info.value.problems
    assert "layer4" in problem.message and "features.12" in problem.accepted


def test_cli_reports_config_errors_and_lists_presets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["study", "run", str(bad), "--out", str(tmp_path / "out"), "--workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "line 9: methods[1].name: unknown method 'gradcum'" in err and not (tmp_path / "out").exists()
    assert main(["study", "presets"]) == 0
    assert "preset:localisation" in capsys.readouterr().out


def test_limit_override_zero_means_every_image_and_none_keeps_the_file() -> None:
    cfg = parse_study("name: x\ndata: {limit: 7}\n")
    assert cfg.with_overrides().data.limit == 7  # no --limit: the file's
    assert cfg.with_overrides(limit=3).data.limit == 3
    assert cfg.with_overrides(limit=0).data.limit == 0  # --limit 0: all, as its help says
