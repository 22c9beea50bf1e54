"""Screenshot of the Explanation panel with the boxes of a class in words (how ``docs/overlay-regions.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_regions.py docs/overlay-regions.png

Opens a demo image (a PA film, PatientOrientation L\\F), runs the default explanation, selects ``--class``
and scrolls the panel to its boxes, IoU table and region sentences. The user's settings are not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6 import QtWidgets  # noqa: E402

from viewer.screenshot import grab_png, open_and_explain, opened_window, wait_until  # noqa: E402

DEMO_IMAGE = ROOT / "resources" / "demo" / "images" / "phantom_00002.dcm"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE)
    parser.add_argument("--class", dest="cls", default="Cardiomegaly")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    with opened_window(str(args.image)) as window:
        problem = open_and_explain(window, args.timeout)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        panel = window.host.panel_widget("explanation")
        if panel is None:
            print("no Explanation panel", file=sys.stderr)
            return 1
        window.state.update(selected_class=args.cls)
        if not wait_until(lambda: bool(panel.region_list.texts()), args.timeout):  # type: ignore[attr-defined]
            print("no region sentences", file=sys.stderr)
            return 1
        wait_until(lambda: False, 0.5)
        scroll = panel.findChild(QtWidgets.QScrollArea)
        if scroll is not None:
            scroll.ensureWidgetVisible(panel.region_list, 0, 0)  # type: ignore[attr-defined]
        wait_until(lambda: False, 1.0)
        grab_png(window, args.out)
        for text in panel.region_list.texts():  # type: ignore[attr-defined]
            print(text)
        print(f"wrote {args.out}", file=sys.stderr)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
