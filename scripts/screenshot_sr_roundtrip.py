"""Screenshot of the viewer showing boxes read back from a DICOM SR (how ``docs/sr-roundtrip.png`` is made).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_sr_roundtrip.py docs/sr-roundtrip.png

Copies a demo image into a fresh folder (without the demo's ``train.csv``, so every box on screen
comes from the SR), explains it with the default model, writes the results with
:func:`engine.dicom_out.write_results` into ``results/`` beside it (the SR carries the model's largest
box per class and one box drawn by "Jane Reader"), then opens the folder in the viewer and saves the
window: the study browser lists the image and the secondary captures; the canvas shows the SR's
boxes as the annotators "RadLens <model>" and "Jane Reader". The user's settings are not changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO_IMAGE = ROOT / "resources" / "demo" / "images" / "phantom_00002.dcm"
CLASSES = ["Cardiomegaly", "Pleural effusion", "Consolidation"]


def export(folder: Path) -> Path:
    import engine
    from engine.analysis import localise
    from engine.annotations import AnnotationSet, BoxAnnotation, Source
    from engine.dicom_out import write_results
    from engine.io import load_image

    image_path = folder / DEMO_IMAGE.name
    shutil.copy(DEMO_IMAGE, image_path)
    image = load_image(image_path)
    model = engine.load_model("default")
    result = engine.explain(model, image, "gradcam", classes=CLASSES)
    user = AnnotationSet((BoxAnnotation("Cardiomegaly", 180, 250, 430, 390, annotator="Jane^Reader",
                                        source=Source.USER),))
    loc = localise(result, "top:0.05", user, box_mode="largest")
    paths = write_results(folder / "results", image, result, localisation=loc, user_boxes=user, annotations=user)
    print(f"wrote {len(paths)} DICOM objects into {folder / 'results'}", file=sys.stderr)
    return image_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="radlens-sr-"))
    export(folder)


    from viewer.screenshot import grab_png, opened_window, wait_until

    with opened_window(str(folder), size=(1500, 950)) as window:
        if not wait_until(lambda: window.state.image is not None and len(window.state.ground_truth.boxes) > 0,
                          args.timeout):
            print("the image did not open with the SR's boxes", file=sys.stderr)
            return 1
        wait_until(lambda: not window.model_loading, args.timeout)
        wait_until(lambda: False, 1.5)
        grab_png(window, args.out)
        print(f"wrote {args.out} ({len(window.state.ground_truth.boxes)} boxes from the SR)", file=sys.stderr)
        return 0
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
