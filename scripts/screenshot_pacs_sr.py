"""Screenshot of an exported SR's boxes re-opened from the PACS (how ``docs/pacs-sr-roundtrip.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_pacs_sr.py \
        docs/pacs-sr-roundtrip.png

Starts an Orthanc on 127.0.0.1 (the tests' launcher) holding one demo study, explains its image with the
default model, writes the results as DICOM (:func:`engine.dicom_out.write_results`: SR with the model's
largest box per class and one box drawn by "Jane Reader", parametric map, secondary captures) and sends
them to the Orthanc (:func:`engine.pacs.send_files`, STOW-RS, as File › Export to PACS… does). Then opens
the viewer with the PACS dock, finds the study, retrieves it by WADO-RS into a fresh cache and saves the
window once the image is open with the SR's boxes: the demo's ``train.csv`` is not beside the cache, so
every box on screen came back from the PACS in the SR. The user's settings are not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pacs"))

from orthanc_server import DEMO, app_with_local_orthanc  # noqa: E402

from engine import pacs  # noqa: E402

DEMO_IMAGE = DEMO / "phantom_00002.dcm"
CLASSES = ["Cardiomegaly", "Pleural effusion", "Consolidation"]
NODE = "orthanc-local"


def export_and_send(folder: Path) -> int:
    """Explain the demo image, write its DICOM results and send them; the number of objects sent."""
    import engine
    from engine.analysis import localise
    from engine.annotations import AnnotationSet, BoxAnnotation, Source
    from engine.dicom_out import write_results
    from engine.io import load_image

    image = load_image(DEMO_IMAGE)
    result = engine.explain(engine.load_model("default"), image, "gradcam", classes=CLASSES)
    user = AnnotationSet((BoxAnnotation("Cardiomegaly", 180, 250, 430, 390, annotator="Jane^Reader",
                                        source=Source.USER),))
    loc = localise(result, "top:0.05", user, box_mode="largest")
    paths = write_results(folder, image, result, localisation=loc, user_boxes=user, annotations=user)
    report = pacs.send_files(NODE, paths)
    if not report.ok:
        raise SystemExit(f"send failed: {report.error}")
    print(f"sent {len(report.sent)} DICOM objects to {NODE}", file=sys.stderr)
    return len(report.sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    with app_with_local_orthanc(NODE, [DEMO_IMAGE], "radlens-pacs-sr-shot-") as (tmp, _server):
        export_and_send(tmp / "export")
        return _shoot(args.out, args.timeout)


def _shoot(out: Path, timeout: float) -> int:
    import pydicom

    from plugins.api import LoadedPlugin
    from plugins.discovery import discover
    from plugins.pacs_dock.manifest import MANIFEST
    from plugins.pacs_dock.panel import PacsPanel
    from viewer.screenshot import grab_png, opened_window, wait_until

    plugins = [p for p in discover() if not (p.manifest and p.manifest.name == "pacs")]
    plugins.append(LoadedPlugin(entry_point="pacs = plugins.pacs_dock.manifest:MANIFEST", manifest=MANIFEST))
    with opened_window(str(pacs.cache_dir()), plugins=plugins, load_model=False) as window:
        dock = window.host.docks["pacs.dock"]
        dock.show()
        dock.raise_()
        panel = window.host.panel_widget("pacs.dock")
        if not isinstance(panel, PacsPanel):
            print("the PACS panel could not be created", file=sys.stderr)
            return 1
        date = str(pydicom.dcmread(DEMO_IMAGE, stop_before_pixels=True).StudyDate)
        panel.node.setCurrentText(NODE)
        panel.date_from.setText(date)
        panel.date_to.setText(date)
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
        if not wait_until(lambda: window.state.image is not None and len(window.state.ground_truth.boxes) > 0,
                          timeout):
            print("the retrieved image did not open with the SR's boxes", file=sys.stderr)
            return 1
        wait_until(lambda: False, 1.5)
        grab_png(window, out)
        print(f"wrote {out} ({len(window.state.ground_truth.boxes)} boxes from the SR, image "
              f"{window.state.image_path})", file=sys.stderr)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
