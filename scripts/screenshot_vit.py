"""Screenshot of a ViT explanation in the viewer (how ``docs/vit.png`` is made).

    QT_QPA_PLATFORM=offscreen HOME=$(mktemp -d) .venv/bin/python scripts/screenshot_vit.py docs/vit.png

Opens a demo phantom with the shipped phantom ViT (``resources/models/phantom-vit-micro``, timm
``test_vit`` at 192 x 192) as the viewer's model, runs the default explanation (Grad-CAM at the ViT's
default layer ``blocks.5.norm1``), selects ``--class`` and saves the window. ``--untrained`` builds a
seeded, untrained ``timm:vit_tiny_patch16_224`` bundle in a temporary folder instead (what the page
showed before a ViT was trained); ``--bundle`` names any other ViT bundle. The user's settings file is
not changed.

``--chooser PATH`` also saves the Explanation panel's method and layer chooser (how
``docs/vit-layers.png`` is made), with the dock widened so that each layer's token layout
(with ``--untrained``: ``blocks.11.norm1 — tokens 1+196 → 14×14 grid (class token dropped)``) is readable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from viewer.screenshot import grab_png, open_and_explain, opened_window, save_settled, wait_until  # noqa: E402
from viewer.settings import Settings  # noqa: E402

DEMO_IMAGE = ROOT / "resources" / "demo" / "images" / "phantom_00003.dcm"
TRAINED = ROOT / "resources" / "models" / "phantom-vit-micro"


def make_bundle(folder: Path, seed: int) -> Path:
    import torch

    from engine.models.architectures import build_architecture
    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest

    default = ModelManifest.from_bundle("default")
    manifest = ModelManifest(
        name="Untrained ViT-Tiny (screenshot)", version="0", architecture="timm:vit_tiny_patch16_224",
        class_names=default.class_names, in_channels=1, input_size=(224, 224), mean=(0.5,), std=(0.25,),
        description=f"timm vit_tiny_patch16_224 with seeded random weights (torch.manual_seed({seed})); untrained.",
        provenance={"trained_by": "nobody: untrained", "seed": seed},
    )
    torch.manual_seed(seed)
    return save_bundle(folder, build_architecture(manifest), manifest, overwrite=True)


def save_chooser(window: Any, out: Path) -> None:
    """Widen the Explanation dock, show the chooser with the default layer in the middle, save it."""
    from PySide6 import QtCore, QtWidgets

    dock = window.host.docks["explanation"]
    window.resizeDocks([dock], [760], QtCore.Qt.Orientation.Horizontal)
    panel = window.host.panel_widget("explanation")
    chooser = panel.method_chooser
    chooser.layers.setMinimumHeight(170)
    scroll = panel.findChild(QtWidgets.QScrollArea)
    if scroll is not None:
        scroll.ensureWidgetVisible(chooser, 0, 0)
    for item in chooser.layers.selectedItems():
        chooser.layers.scrollToItem(item, QtWidgets.QAbstractItemView.ScrollHint.PositionAtCenter)
    wait_until(lambda: False, 1.0)
    grab_png(chooser, out)
    print(f"wrote {out}", file=sys.stderr)
    for r in range(chooser.layers.count()):
        if chooser.layers.item(r).isSelected():
            print(chooser.layers.item(r).text(), "|", chooser.layers.item(r).toolTip().replace("\n", " | "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE)
    parser.add_argument("--bundle", type=Path, default=TRAINED, help="the ViT bundle (default: the shipped one)")
    parser.add_argument("--untrained", action="store_true", help="a seeded, untrained ViT-Tiny instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --untrained network")
    parser.add_argument("--class", dest="cls", default=None, help="class whose map is shown (default: the panel's)")
    parser.add_argument("--chooser", type=Path, default=None, help="also save the layer chooser to this PNG")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    bundle = make_bundle(Path(tempfile.mkdtemp(prefix="radlens-vit-")) / "vit", args.seed) if args.untrained \
        else args.bundle
    settings = Settings(persist=False)
    settings["model"] = str(bundle)
    settings.plugin("explanation-overlay")["model"] = str(bundle)  # the overlay panel's own model choice
    with opened_window(str(args.image), settings=settings) as window:
        problem = open_and_explain(window, args.timeout)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        ex = window.state.explanation
        assert ex is not None
        print(f"explained with {ex.method} at {ex.layers} on {ex.model.get('architecture')}", file=sys.stderr)
        if args.cls:
            window.state.update(selected_class=args.cls)
        save_settled(window, args.out, 1.5)  # once the canvas has rendered
        if args.chooser is not None:
            save_chooser(window, args.chooser)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
