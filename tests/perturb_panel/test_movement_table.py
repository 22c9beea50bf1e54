"""The Robustness tab's heat-map movement table names the score: p for classifiers, the value and its
unit for regression models."""

from __future__ import annotations

from typing import Any

from plugins.perturb_lab.robustness_tab import movement_table

DOC: dict[str, Any] = {
    "layers": ["layer3"], "method": "layercam", "clean": {"Cardiothoracic ratio": 0.612},
    "results": [{"severity": 1, "corruption": "gaussian_noise", "probabilities": {"Cardiothoracic ratio": 0.598},
                 "delta_p": {"Cardiothoracic ratio": 0.014},
                 "maps": {"layer3": {"Cardiothoracic ratio": {"rmse": 0.05, "ssim": 0.91}}}}],
}


def test_classifier_columns_say_p() -> None:
    html = movement_table(DOC, "Cardiothoracic ratio")
    assert "&nbsp;p&nbsp;" in html and "&nbsp;Δp&nbsp;" in html


def test_regression_columns_say_value_and_unit() -> None:
    html = movement_table(DOC, "Cardiothoracic ratio", "value (ratio)")
    assert "&nbsp;value (ratio)&nbsp;" in html and "&nbsp;Δ&nbsp;" in html and "Δp" not in html
    assert "0.612" in html and "0.598" in html and "+0.014" in html and "0.050 / 0.910" in html
