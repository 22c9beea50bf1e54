"""The Parquet result store ``OUT/results/`` and ``OUT/failures.csv``.

Results are written in parts, each atomically (temporary file beside it, fsync, rename), so a run
killed with SIGKILL loses at most the batch it was writing. Readers ignore temporary files.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engine.atomic import atomic_open, atomic_write_text

RESULTS_DIR = "results"
FAILURES_FILE = "failures.csv"
KEY_COLUMNS = ("image", "model", "method", "layer", "params_hash")
STORE_SCHEMA_VERSION = 2

#: Columns every row has (keys and classification); ``block`` names the metric block that wrote it
#: (null in stores of the first version, which only held localisation rows).
COMMON_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("image", pa.string()), ("model", pa.string()), ("model_name", pa.string()), ("model_version", pa.string()),
    ("method", pa.string()), ("layer", pa.string()), ("params_hash", pa.string()), ("params", pa.string()),
    ("class", pa.string()), ("probability", pa.float64()), ("label", pa.int8()), ("predicted", pa.bool_()),
)


def _schema() -> pa.Schema:
    """Common columns, each registered block's columns (localisation first), then ``block``."""
    from training.study.blocks import BLOCKS

    fields = [*COMMON_COLUMNS, *(c for b in BLOCKS.values() for c in b.columns), ("block", pa.string())]
    return pa.schema(fields, metadata={"radlens_study_schema": str(STORE_SCHEMA_VERSION)})


SCHEMA = _schema()


def results_dir(out: Path) -> Path:
    """``OUT/results``."""
    return Path(out) / RESULTS_DIR


def part_files(out: Path) -> list[Path]:
    """Finished part files, in name (= write) order."""
    folder = results_dir(out)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("part-*.parquet") if not p.name.startswith("."))


def remove_temporary(out: Path) -> int:
    """Delete parts left half-written by a killed run (temporary files); returns how many."""
    folder = results_dir(out)
    stale = list(folder.glob(".part-*.tmp")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def write_part(out: Path, rows: list[dict[str, Any]]) -> Path | None:
    """Write ``rows`` as one new part atomically; returns its path (None when there is no row)."""
    if not rows:
        return None
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    folder = results_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)
    return path


def read_results(out: Path) -> pa.Table:
    """Every stored row, duplicates of a (key, class) dropped (the first part wins).

    Parts written before a column existed read it as null (a first-version store has no ``block``).
    """
    parts = part_files(out)
    if not parts:
        return SCHEMA.empty_table()
    table = pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in parts])
    seen: set[tuple[str, ...]] = set()
    keep = []
    cols = [table.column(c).to_pylist() for c in (*KEY_COLUMNS, "class")]
    for i, key in enumerate(zip(*cols, strict=True)):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return table.take(pa.array(keep, pa.int64())) if len(keep) < table.num_rows else table


def done_keys(out: Path) -> set[str]:
    """Resume keys (see :func:`training.study.score.task_key`) of every stored row."""
    keys: set[str] = set()
    for p in part_files(out):
        t = pq.read_table(p, columns=list(KEY_COLUMNS))
        cols = [t.column(c).to_pylist() for c in KEY_COLUMNS]
        keys.update("\t".join(k) for k in zip(*cols, strict=True))
    return keys


def read_failures(out: Path) -> dict[str, str]:
    """``failures.csv`` as file -> reason (empty when there is none)."""
    path = Path(out) / FAILURES_FILE
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["file"]: r["reason"] for r in csv.DictReader(handle)}


def write_failures(out: Path, failures: Iterable[tuple[str, str]]) -> Path:
    """Write ``failures.csv`` (header ``file,reason``, sorted by file) atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "reason"])
    for file, reason in sorted(failures):
        w.writerow([file, reason])
    path = Path(out) / FAILURES_FILE
    atomic_write_text(path, buf.getvalue())
    return path
