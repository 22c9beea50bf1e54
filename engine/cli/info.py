"""``radlens info PATH [--frame N] [--json]``: print what RadLens sees in a file or folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's arguments."""
    parser.add_argument(
        "path", type=Path, help="an image file (DICOM, PNG, JPEG, TIFF, NIfTI, MHA, NRRD) or a folder to scan"
    )
    parser.add_argument(
        "--frame", type=int, default=0, help="frame (multi-frame DICOM), page (TIFF) or slice (volume); default 0"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _file_text(info: dict[str, Any]) -> str:
    meta = info["metadata"]
    lines = [f"File:          {info['path']}  ({info['kind']})"]
    shown = {k: v for k, v in meta.items() if v not in ("", None)}
    if shown:
        lines.append("Metadata:")
        lines += [f"  {k:20s} {v}" for k, v in shown.items()]
    lo, hi = info["value_range"]
    w = info["window"]
    lines += [
        f"Encoding:      {info['transfer_syntax']}",
        f"Decoder:       {info['decoder']}",
        f"Frame:         {info['frame_index']} of {info['n_frames']} (0-based)",
        f"Shape:         {' x '.join(map(str, info['shape']))}{'  colour' if info['is_color'] else '  grayscale'}",
        f"Stored dtype:  {info['stored_dtype']} -> raw {info['raw_dtype']}, range [{lo:g}, {hi:g}]",
        f"Photometric:   {info['photometric']}"
        + (f"  ({info['color_conversion']})" if info["color_conversion"] else ""),
        f"Modality LUT:  {info['modality_lut']}",
        f"Window used:   {w['name']} [{w['source']}]: C {w['center']:g}, W {w['width']:g}, {w['function']}",
    ]
    if len(info["windows"]) > 1:
        lines.append("Alternatives:")
        lines += [
            f"  {i}. {a['name']} [{a['source']}]: C {a['center']:g}, W {a['width']:g}, {a['function']}"
            for i, a in enumerate(info["windows"])
        ]
    lines.append(f"Inverted:      {'yes' if info['inverted'] else 'no'} ({info['inversion_reason']})")
    sp = info["spacing_mm"]
    lines.append(
        f"Spacing:       {f'{sp[0]:g} x {sp[1]:g} mm (row x col)' if sp else 'unknown'}"
        f"  source: {info['spacing_source']}"
    )
    lines += [f"Note:          {n}" for n in info["notes"]]
    return "\n".join(lines)


def _folder(path: Path, as_json: bool) -> int:
    from engine.io.study import scan_folder

    index = scan_folder(path)
    if as_json:
        data = {
            "root": str(index.root),
            "summary": index.summary(),
            "patients": [
                {
                    "patient_id": p.patient_id,
                    "name": p.name,
                    "studies": [
                        {
                            "uid": st.uid,
                            "description": st.description,
                            "date": st.date,
                            "series": [
                                {
                                    "uid": se.uid,
                                    "number": se.number,
                                    "description": se.description,
                                    "modality": se.modality,
                                    "images": [str(i.path) for i in se.images],
                                }
                                for se in st.series
                            ],
                        }
                        for st in p.studies
                    ],
                }
                for p in index.patients
            ],
            "errors": [{"path": str(e.path), "reason": e.reason} for e in index.errors],
            "skipped": [{"path": str(e.path), "reason": e.reason} for e in index.skipped],
        }
        print(json.dumps(data, indent=2))
        return 0
    print(f"Folder: {index.root}\n{index.summary()}")
    for p in index.patients:
        print(f"Patient {p.name or '(no name)'} [{p.patient_id or 'no id'}]")
        for st in p.studies:
            print(f"  Study {st.description or '(no description)'} {st.date} [{st.uid}]")
            for se in st.series:
                print(
                    f"    Series {se.number if se.number is not None else '-'} "
                    f"{se.modality} {se.description}: {len(se.images)} images"
                )
    for e in index.errors:
        print(f"Error: {e.path}: {e.reason}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the report; 1 with the error message when RadLens refuses the file."""
    from engine.errors import RadLensError

    path: Path = args.path
    try:
        if path.is_dir():
            return _folder(path, args.json)
        from engine.io import describe, load_image

        info = describe(load_image(path, frame=args.frame))
    except RadLensError as exc:
        if args.json:
            print(json.dumps({"path": str(path), "error": type(exc).__name__, "message": str(exc)}, indent=2))
        print(f"radlens info: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2) if args.json else _file_text(info))
    return 0
