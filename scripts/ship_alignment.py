"""Measure the receptive-field alignment of a bundle's layers once and ship it inside the bundle.

A bundle folder may carry ``alignment/`` (:data:`engine.explainers.alignment.BUNDLE_ALIGNMENT_DIR`):
the layers' alignments, keyed like the user's cache by weights SHA-256, layer and input shape. RadLens
reads them before computing, so the bundled models explain at once on a machine that never ran them
(issue #16: the gradient probe cost 1.7-20 s at a first start; issue #19: first explanation within 5 s).
Since the layer arithmetic (:mod:`engine.explainers.fields`, under 0.1 s) replaced the probe this
spares little; the files shipped so far were measured by the probe on the trained weights and
``tests/engine/test_alignment_arithmetic.py`` checks the arithmetic gives every one of them.

Usage: ``python scripts/ship_alignment.py BUNDLE [BUNDLE ...] [--all-layers]``. By default the default
layer and the layers at most two names deep (``layer3``, ``layer3.1``; ``features.denseblock4``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ship(bundle: Path, all_layers: bool) -> list[Path]:
    """Probe the chosen layers of ``bundle`` and copy the answers into ``bundle/alignment``."""
    import numpy as np

    import engine
    from engine.explainers.alignment import BUNDLE_ALIGNMENT_DIR
    from engine.explainers.api import list_layers

    with tempfile.TemporaryDirectory() as cache:
        os.environ["RADLENS_CACHE_DIR"] = cache
        model = engine.load_model(bundle)
        layers = [info.name for info in list_layers(model)
                  if all_layers or info.is_default or info.name.count(".") <= 1]
        image = np.random.default_rng(0).random(tuple(model.manifest.input_size)).astype(np.float32)
        for layer in layers:
            engine.explain(model, image, "gradcam", classes=[0], layers=[layer])
        target = bundle / BUNDLE_ALIGNMENT_DIR
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        written = []
        for f in sorted((Path(cache) / "alignment").glob("*.json")):
            written.append(Path(shutil.copy2(f, target / f.name)))
    print(f"{bundle}: {len(written)} alignments for {len(layers)} layers -> {target}")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--all-layers", action="store_true", help="every layer with a grid, not only the main ones")
    args = parser.parse_args()
    for bundle in args.bundles:
        ship(bundle, args.all_layers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
