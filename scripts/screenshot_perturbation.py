"""Screenshot of the Perturbation panel on a demo image (how ``docs/perturbation-panel.png`` is made).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_perturbation.py docs/perturbation-panel.png

Opens the demo image (or ``--image``), runs the default explanation, brings the Perturbation dock to
the front, shows the perturbed image on the canvas, moves the slider to ``--percent`` (most relevant
first, the panel's default mode) and saves the window once the bars show that step. The user's
settings file is not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from engine.resources import demo_images  # noqa: E402
from viewer.screenshot import open_and_explain, opened_window, save_settled, wait_until  # noqa: E402

DEMO_IMAGE = demo_images() / "phantom_00003.dcm"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE)
    parser.add_argument("--percent", type=int, default=10, help="share of the map's pixels replaced")
    parser.add_argument("--canvas", default="Perturbed", help="what the canvas shows (the panel's Canvas choice)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    with opened_window(str(args.image)) as window:
        problem = open_and_explain(window, args.timeout)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        dock = window.host.docks["perturbation"]
        dock.show()
        dock.raise_()
        panel = window.host.panel_widget("perturbation")
        if panel is None:
            print("the Perturbation panel could not be created", file=sys.stderr)
            return 1
        wait_until(lambda: False, 0.5)
        panel.view.setCurrentText(args.canvas)  # type: ignore[attr-defined]
        panel.slider.setValue(args.percent)  # type: ignore[attr-defined]
        if not wait_until(lambda: window.state.perturbation is not None, args.timeout):
            print("no perturbation step", file=sys.stderr)
            return 1
        save_settled(window, args.out)  # once the bars and the canvas have rendered
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
