"""Add what the DX IOD requires to the demo study's DICOM headers, without touching anything else.

    .venv/bin/python scripts/conform_demo_dicom.py [FOLDER ...]   (default: resources/demo/images)

The demo files were written before the phantom generator filled in every attribute the DX "For
Presentation" IOD requires, so ``dciodvfy`` reported ten errors in each. This applies the same
:func:`training.phantom.writers.add_dx_conformance` the generator now calls: attributes are only
added, never changed; pixel data, UIDs and every existing value stay as they were (the script checks
it and refuses to write otherwise). Each file is rewritten atomically.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pydicom  # noqa: E402

from engine.atomic import atomic_write_bytes  # noqa: E402
from training.phantom.writers import add_dx_conformance  # noqa: E402

DEMO_IMAGES = ROOT / "resources" / "demo" / "images"


def conform(path: Path) -> list[str]:
    """Patch one file in place; return the keywords added (empty: already conforming)."""
    ds = pydicom.dcmread(path)
    before = {e.tag: e.value for e in ds}
    add_dx_conformance(ds)
    added = [ds[t].keyword for t in ds.keys() if t not in before]
    changed = [ds[t].keyword for t, v in before.items() if ds[t].value != v]
    if changed:
        raise SystemExit(f"{path}: would change {changed}; refusing")
    if added:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        atomic_write_bytes(path, buf.getvalue())
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=[DEMO_IMAGES])
    args = parser.parse_args()
    for folder in args.folders:
        for path in sorted(folder.glob("*.dcm")):
            added = conform(path)
            print(f"{path}: {'added ' + ', '.join(added) if added else 'already conforming'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
