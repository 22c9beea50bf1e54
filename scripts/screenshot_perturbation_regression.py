"""Screenshot of the Perturbation panel with the regression model (how ``docs/perturbation-regression.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_perturbation_regression.py \\
        docs/perturbation-regression.png --curves docs/perturbation-regression-curves.png

Opens a demo image (default ``phantom_00005``, cardiomegaly, true ratio 0.624), loads the bundled
cardiothoracic-ratio model in the Explanation panel, explains it (Grad-CAM at layer3, the map of what
``--direction`` the ratio), brings the Perturbation dock to the front, replaces the ``--percent``
most relevant pixels of that map by the image mean and saves the window: the bars then read the
predicted ratio before → after. ``--curves PATH`` also computes the deletion/insertion curves with
the random band (3 seeds) and saves the window on the Curves tab. The user's settings are not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from viewer.screenshot import COMMAND, grab_png, opened_window, wait_until  # noqa: E402

DEMO_IMAGE = ROOT / "resources" / "demo" / "images" / "phantom_00005.dcm"
MODEL = ROOT / "resources" / "models" / "phantom-ctr-resnet18"


def explain_regression(window: Any, model: Path, direction: str, timeout: float) -> str | None:
    """Load ``model`` in the Explanation panel, explain, show ``direction``; None when done, else the problem."""
    if not wait_until(lambda: window.state.image is not None, 60):
        return "no image opened"
    wait_until(lambda: not window.model_loading, timeout)
    panel = window.host.panel_widget("explanation")
    if panel is None:
        return "the Explanation panel could not be created"
    panel.load_model(str(model))
    if not wait_until(lambda: getattr(window.state.model, "path", None) == model.resolve()
                      and panel.method_chooser.layers.count() > 0, timeout):
        return "the regression model did not load"
    panel.direction_switch.buttons[direction].setChecked(True)
    window.host.run_command(COMMAND)
    if not wait_until(lambda: window.state.explanation is not None and window.state.explanation.is_regression,
                      timeout):
        return "no explanation"
    if direction != "raises":
        panel.direction_switch.buttons[direction].setChecked(True)
    wait_until(lambda: window.state.explanation.direction == direction, 10)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write (the Live tab)")
    parser.add_argument("--curves", type=Path, default=None, help="also save the Curves tab to this PNG")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--direction", choices=("raises", "lowers"), default="raises")
    parser.add_argument("--percent", type=int, default=10, help="share of the map's pixels replaced")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    with opened_window(str(args.image)) as window:
        problem = explain_regression(window, args.model, args.direction, args.timeout)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        dock = window.host.docks["perturbation"]
        dock.show()
        dock.raise_()
        panel: Any = window.host.panel_widget("perturbation")
        if panel is None:
            print("the Perturbation panel could not be created", file=sys.stderr)
            return 1
        wait_until(lambda: False, 0.5)
        panel.view.setCurrentText("Perturbed")
        panel.mode.setCurrentText("Image mean")
        panel.slider.setValue(args.percent)
        if not wait_until(lambda: panel.result is not None and panel.result.fraction == args.percent / 100
                          and not panel.runner.is_busy(), args.timeout):
            print("no perturbation step", file=sys.stderr)
            return 1
        wait_until(lambda: False, 1.0)  # let the bars and the canvas render
        grab_png(window, args.out)
        print(panel.source_label.text(), "|", panel.status.text(), "|", panel.bars.label_texts(), file=sys.stderr)
        print(f"wrote {args.out}", file=sys.stderr)
        if args.curves is not None:
            panel.curve_seeds = (0, 1, 2)
            panel.compute_curves()
            if not wait_until(lambda: panel.curves_view.result is not None, args.timeout):
                print("no curves", file=sys.stderr)
                return 1
            panel.tabs.setCurrentIndex(1)
            wait_until(lambda: False, 1.0)
            grab_png(window, args.curves)
            print(panel.curves_view.summary.text(), file=sys.stderr)
            print(f"wrote {args.curves}", file=sys.stderr)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
