"""Screenshot of the regression model in the viewer (how ``docs/regression.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_regression.py docs/regression.png

Opens a demo image (default ``phantom_00005``, cardiomegaly, true ratio 0.624), loads the bundled
cardiothoracic-ratio model (``--model``) in the Explanation panel, runs ``--method`` (the one
docs/regression.md recommends for this model, at the bundle's target layer for CAM methods) and
saves the window with the map of ``--direction`` (``raises`` by default) drawn as ``--mode``
(outline and heatmap by default).
The user's settings file is not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from viewer.screenshot import COMMAND, opened_window, save_settled, wait_until  # noqa: E402

DEMO_IMAGE = ROOT / "resources" / "demo" / "images" / "phantom_00005.dcm"
MODEL = ROOT / "resources" / "models" / "phantom-ctr-resnet18"
#: The method docs/regression.md recommends for this model (see its table).
METHOD = "layercam"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--method", default=METHOD, help=f"explanation method ({METHOD})")
    parser.add_argument("--direction", choices=("raises", "lowers"), default="raises")
    parser.add_argument("--mode", choices=("outline", "heatmap", "both"), default="both",
                        help="how the map is drawn (the panel's Show choice)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    with opened_window(str(args.image)) as window:
        if not wait_until(lambda: window.state.image is not None, 60):
            print("no image opened", file=sys.stderr)
            return 1
        wait_until(lambda: not window.model_loading, args.timeout)
        panel = window.host.panel_widget("explanation")
        if panel is None:
            print("the Explanation panel could not be created", file=sys.stderr)
            return 1
        panel.load_model(str(args.model))  # type: ignore[attr-defined]
        if not wait_until(lambda: getattr(window.state.model, "path", None) == args.model.resolve()
                          and panel.method_chooser.layers.count() > 0, args.timeout):  # type: ignore[attr-defined]
            print("the regression model did not load", file=sys.stderr)
            return 1
        panel.method_chooser.set_method(args.method)  # type: ignore[attr-defined]
        if panel.method_chooser.method_name() != args.method:  # type: ignore[attr-defined]
            print(f"unknown method {args.method}", file=sys.stderr)
            return 1
        panel.direction_switch.buttons[args.direction].setChecked(True)  # type: ignore[attr-defined]
        window.state.overlay.update(mode=args.mode)
        window.host.run_command(COMMAND)
        if not wait_until(lambda: window.state.explanation is not None
                          and window.state.explanation.is_regression, args.timeout):
            print("no explanation", file=sys.stderr)
            return 1
        wait_until(lambda: window.state.localisation is not None, 30)
        save_settled(window, args.out)  # once the tables and the canvas have rendered
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
