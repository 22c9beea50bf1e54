"""Screenshot of the PACS dock with a found study (how ``docs/pacs-dock.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_pacs.py docs/pacs-dock.png

Starts an Orthanc on 127.0.0.1 (the tests' launcher) holding the demo study and a 3-series study,
configures a DICOMweb node for it in a temporary config folder (password in an in-memory keyring),
opens the viewer with the PACS dock, searches, expands the study, retrieves it (the first image
opens on arrival, the study is listed in the study browser) and saves the window.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pacs"))

from orthanc_server import DEMO, app_with_local_orthanc, make_series_study  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    with app_with_local_orthanc("orthanc-local", sorted(DEMO.glob("*.dcm")), "radlens-pacs-shot-") as (tmp, server):
        server.upload(make_series_study(tmp / "study"))
        return _shoot(args.out, args.timeout)


def _shoot(out: Path, timeout: float) -> int:

    from plugins.api import LoadedPlugin
    from plugins.discovery import discover
    from plugins.pacs_dock.manifest import MANIFEST
    from plugins.pacs_dock.panel import PacsPanel
    from viewer.screenshot import opened_window, save_settled, wait_until

    plugins = [p for p in discover() if not (p.manifest and p.manifest.name == "pacs")]
    plugins.append(LoadedPlugin(entry_point="pacs = plugins.pacs_dock.manifest:MANIFEST", manifest=MANIFEST))
    with opened_window(str(sorted(DEMO.glob("*.dcm"))[0]), plugins=plugins, load_model=False) as window:
        dock = window.host.docks["pacs.dock"]
        dock.show()
        dock.raise_()
        panel = window.host.panel_widget("pacs.dock")
        if not isinstance(panel, PacsPanel):
            print("the PACS panel could not be created", file=sys.stderr)
            return 1
        panel.node.setCurrentText("orthanc-local")
        panel.test_connection()
        wait_until(lambda: "Connection OK" in panel.status.text(), timeout)
        panel.date_from.setText("20190101")
        panel.date_to.setText("20191231")
        panel.modality.setCurrentText("DX")
        panel.search()
        if not wait_until(lambda: panel.results.topLevelItemCount() > 0, timeout):
            print(f"no study found: {panel.status.text()}", file=sys.stderr)
            return 1
        item = panel.results.topLevelItem(0)
        assert item is not None
        item.setExpanded(True)
        wait_until(lambda: item.childCount() > 0, timeout)
        panel.results.setCurrentItem(item)
        panel.retrieve()
        if not wait_until(lambda: panel.last_result is not None, timeout):
            print(f"no retrieval: {panel.status.text()}", file=sys.stderr)
            return 1
        wait_until(lambda: len(window.browser.image_paths()) >= 12, timeout)
        save_settled(window, out)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
