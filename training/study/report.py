"""``OUT/study.json`` (the study as run, with provenance) and re-rendering a study's tables."""

from __future__ import annotations

import json
import os
import platform
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from engine.atomic import atomic_write_text
from training.study.errors import StudyError
from training.study.store import part_files, read_failures
from training.study.tables import render_tables

if TYPE_CHECKING:
    from training.study.config import StudyConfig
    from training.study.data import WorkList
    from training.study.pipeline import RunSummary
    from training.study.score import ModelPlan

STUDY_JSON = "study.json"
STUDY_SCHEMA_VERSION = 1
#: ``study.json`` status of a run whose process ended without its clean-up (see :func:`settle_killed_run`).
KILLED = "killed"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from engine.runtime import library_versions

    out = dict(library_versions())
    for dist in ("ray", "pyarrow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _code() -> dict[str, str]:
    """The RadLens version and, in a source checkout, its git commit (see :func:`engine.version.source_commit`)."""
    from engine.version import source_commit, version

    return {"version": version(), "commit": source_commit()}


def failure_counts(out: Path) -> dict[str, int]:
    """``failed``: images that failed (tried again on ``--resume``); ``not_studied``: what the data set
    has but cannot study (``failures.csv`` rows whose reason starts "not studied: ")."""
    from training.study.data import NOT_STUDIED

    reasons = read_failures(out).values()
    not_studied = sum(1 for r in reasons if r.startswith(NOT_STUDIED))
    return {"failed": len(reasons) - not_studied, "not_studied": not_studied}


def stored_images(out: Path) -> int:
    """Distinct images with at least one stored row."""
    images: set[str] = set()
    for p in part_files(out):
        images.update(pq.read_table(p, columns=["image"]).column("image").to_pylist())
    return len(images)


def write_study_json(
    out: Path, cfg: StudyConfig, summary: RunSummary, *, status: str, plans: list[ModelPlan], work: WorkList,
    command: str, device: str, workers: int | None, address: str,
) -> Path:
    """Write ``OUT/study.json`` atomically (also at the start of a run, with ``status: running``)."""
    path = Path(out) / STUDY_JSON
    previous: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    runs = list(previous.get("runs", []))
    record = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "command": command, "mode": summary.mode,
              "host": platform.node(), "pid": os.getpid(), "workers": workers, "address": address, "device": device,
              "status": status,
              "images_to_do": summary.total - summary.skipped, "done": summary.done, "failed": summary.failed,
              "seconds": round(summary.seconds, 3),
              "images_per_s": round(summary.done / summary.seconds, 3) if summary.seconds > 0 else None,
              "nodes_used": len(summary.nodes), "timings": summary.timings(), "radlens": _code()}
    if status == "running":
        if runs and isinstance(runs[-1], dict) and runs[-1].get("status") == "running" and not _alive_here(runs[-1]):
            runs[-1] = {**runs[-1], "status": KILLED, "done": _done_by(Path(out), runs[-1], runs)}  # settle_killed_run
        runs.append(record)
    elif runs:
        record["started"] = runs[-1].get("started", record["started"])
        runs[-1] = record
    doc = {
        "schema_version": STUDY_SCHEMA_VERSION,
        "status": status,
        "study": cfg.to_dict(),
        "models": [{"spec": p.spec, "name": p.name, "version": p.version, "sha256": p.sha256, "path": p.path,
                    "classes": list(p.class_names), "thresholds": list(p.thresholds),
                    "tasks": [{"method": t.method, "layer": t.layer, "params": t.params,
                               "params_hash": t.params_hash} for t in p.tasks]} for p in plans],
        "data": {"folder": str(work.root), "format": work.format, "annotations": str(work.annotations),
                 "annotations_sha256": work.annotations_sha256, "split_sha256": work.split_sha256,
                 "images": len(work.items),
                 "fingerprint_sha256": work.fingerprint},
        "counts": {"images": len(work.items), "done": stored_images(out), **failure_counts(out)},
        "runs": runs,
        "versions": _versions(),
        "platform": platform.platform(),
        "research_use": "research use - not for diagnostic use",
    }
    return _write_study_json(Path(out), doc)


def check_resume(out: Path, plans: list[ModelPlan], work: WorkList) -> None:
    """Refuse to add to stored results that were scored on other annotations or other model thresholds.

    Stored rows hold each image's labels and boxes and the model's decisions at its thresholds; a
    resume that mixed them with rows of edited annotations or a re-thresholded bundle would publish
    tables of two data sets as one. Images are identified by their path relative to the data folder
    (the folder itself may move). A ``study.json`` written before these fields existed is not checked.

    Raises:
        StudyError: What changed, with the fix (a new ``--out``).
    """
    path = Path(out) / STUDY_JSON
    if not path.is_file():
        return
    try:
        previous = read_study_json(out)
    except StudyError:
        raise StudyError("cannot resume: study.json is unreadable, so whether the stored rows were scored on this "
                         "data cannot be checked.", path=path,
                         fix="run the study into a new --out folder; or, if the data has not changed, delete "
                         "study.json and resume without the check.") from None
    problems = []
    raw_data = previous.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    then, now = str(data.get("annotations_sha256") or ""), work.annotations_sha256
    if then and now and then != now:
        problems.append(f"the annotation file {work.annotations} has changed (SHA-256 {then[:12]}... when the "
                        f"stored rows were scored, {now[:12]}... now)")
    if "split_sha256" in data and data["split_sha256"] != work.split_sha256:
        then_split = "another split file" if data["split_sha256"] else "no split file"
        now_split = "this split file" if work.split_sha256 else "none"
        problems.append(f"the stored rows were scored with {then_split}, this run has {now_split} (rows store "
                        "their image's split subset)")
    if data.get("format") and data["format"] != work.format:
        problems.append(f"the data format is {work.format}, the stored rows were scored as {data['format']}")
    raw_models = previous.get("models")
    models: list[Any] = raw_models if isinstance(raw_models, list) else []
    for old in (m for m in models if isinstance(m, dict)):
        for plan in plans:
            if plan.sha256 == old.get("sha256") and list(old.get("thresholds") or []) != list(plan.thresholds):
                problems.append(f"model {plan.name} has other thresholds than when the stored rows were scored "
                                f"({old.get('thresholds')} then, {list(plan.thresholds)} now)")
    if problems:
        raise StudyError("cannot resume: " + "; ".join(problems) + ". The stored rows hold the labels, boxes and "
                         "decisions of then.", path=out,
                         fix="run the study into a new --out folder (or delete this folder to start it over).")


def _write_study_json(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / STUDY_JSON
    atomic_write_text(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path


def report_study(out: str | Path) -> list[Path]:
    """Re-render ``OUT/tables``, ``OUT/figures`` and ``OUT/report.pdf`` from the stored results and
    ``study.json`` (no model runs).

    Raises:
        StudyError: ``out`` holds no study.
    """
    folder = Path(out)
    study = read_study_json(folder).get("study")
    if not isinstance(study, dict):
        raise StudyError("study.json is unreadable (it has no 'study' entry).", path=folder / STUDY_JSON,
                         fix="re-run the study with --resume to rewrite it.")
    from training.study.pdf import write_report

    settle_killed_run(folder)
    written = render_tables(folder, settings=settings_of_study(study), others=settings_of_study(study, every=True))
    return [*written, write_report(folder)]


def _done_by(folder: Path, run: dict[str, Any], runs: list[Any]) -> int | None:
    """Images a run that never ended wrote to the store: parts are named ``part-<time ns>-<pid>``,
    and the run's are those of its pid written after it started and before the next run started (a
    pid comes back, in a container often the same one). None when the run record has no pid or start
    time (written before RadLens recorded them)."""
    pid = run.get("pid")
    since, until = _start_ns(run), None
    if not isinstance(pid, int) or since is None:
        return None
    later = [t for r in runs if isinstance(r, dict) and (t := _start_ns(r)) is not None and t > since]
    until = min(later) if later else None
    images: set[str] = set()
    for p in part_files(folder):
        stamp, _, owner = p.stem.removeprefix("part-").partition("-")
        if owner == str(pid) and stamp.isdigit() and int(stamp) >= since and (until is None or int(stamp) < until):
            images.update(pq.read_table(p, columns=["image"]).column("image").to_pylist())
    return len(images)


def _start_ns(run: dict[str, Any]) -> int | None:
    """A run record's start as ns since the epoch (records keep whole seconds), or None."""
    started = run.get("started")
    try:
        return int(datetime.fromisoformat(started).timestamp()) * 1_000_000_000 if isinstance(started, str) else None
    except ValueError:
        return None


def settle_killed_run(out: str | Path) -> str | None:
    """Mark runs that were killed as such in ``OUT/study.json``.

    A run rewrites ``study.json`` when it ends, also on Ctrl-C and SIGTERM; SIGKILL, the kernel's
    out-of-memory killer or a power cut leave it saying ``running`` for ever. When the last run was
    started on this machine and its process no longer exists, the study and that run get the status
    ``killed`` and the counts are read again from the store; a last run on another machine (a
    cluster's driver) or still alive is left alone. An earlier run still marked ``running`` was
    followed by another run on the same folder, so it ended: it is marked ``killed`` too (unless its
    process is alive here).

    Returns:
        The command that resumes the killed last run (its own command line with ``--resume``), or
        None when the last run was not settled.
    """
    folder = Path(out)
    doc = read_study_json(folder)
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        return None
    earlier = [r for r in runs[:-1] if isinstance(r, dict) and r.get("status") == "running" and not _alive_here(r)]
    for r in earlier:
        r.update(status=KILLED, done=_done_by(folder, r, runs))
    # runs recorded as killed before their count was read from the store
    blank = [r for r in runs if isinstance(r, dict) and r.get("status") == KILLED and r.get("done") is None]
    for r in blank:
        r["done"] = _done_by(folder, r, runs)
    earlier += [r for r in blank if r["done"] is not None]
    last = runs[-1]
    settle_last = doc.get("status") == "running" and isinstance(last, dict) and _process_gone(last)
    if settle_last:
        doc["status"] = last["status"] = KILLED
        last["done"] = _done_by(folder, last, runs)  # it was to be counted when the run ended, and it never did
        counts = doc.get("counts")
        doc["counts"] = {**(counts if isinstance(counts, dict) else {}), "done": stored_images(folder),
                         **failure_counts(folder)}
    if earlier or settle_last:
        _write_study_json(folder, doc)
    if not settle_last:
        return None
    command = str(last.get("command") or "")
    if not command:  # started from Python (run_study) rather than the command line
        study = doc.get("study") if isinstance(doc.get("study"), dict) else {}
        source = str(study.get("source") or "STUDY") if isinstance(study, dict) else "STUDY"
        command = shlex.join(["radlens", "study", "run", source, "--out", str(folder)])
    return command if command.endswith("--resume") else command + " --resume"


def _alive_here(run: dict[str, Any]) -> bool:
    """True when ``run`` was started on this machine and its process still exists."""
    return _process_here(run) is True


def _process_gone(run: dict[str, Any]) -> bool:
    """True when ``run`` was started on this machine and its process no longer exists."""
    return _process_here(run) is False


def _process_here(run: dict[str, Any]) -> bool | None:
    """Whether ``run``'s process exists; None when it was not started on this machine (or has no pid)."""
    pid = run.get("pid")
    if run.get("host") != platform.node() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def read_study_json(out: str | Path) -> dict[str, Any]:
    """``OUT/study.json`` as a dict.

    Raises:
        StudyError: ``out`` holds no ``study.json``, or it is not a readable JSON object.
    """
    folder = Path(out)
    path = folder / STUDY_JSON
    if not path.is_file():
        raise StudyError("this folder holds no study (no study.json).", path=folder,
                         fix="pass the --out folder of a `radlens study run`.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudyError(f"study.json is unreadable ({exc}).", path=path,
                         fix="re-run the study with --resume to rewrite it.") from exc
    if not isinstance(doc, dict):
        raise StudyError("study.json is unreadable (not a JSON object).", path=path,
                         fix="re-run the study with --resume to rewrite it.")
    return doc


def settings_of_study(study: dict[str, Any], *, every: bool = False) -> dict[str, dict[str, Any]]:
    """Block name -> settings of the blocks a stored study ran (``study.json``'s ``study`` entry), or
    with ``every`` of every block whose settings it records.

    A first-version ``study.json`` (no ``metrics``/``blocks`` entries) ran the localisation block.
    """
    from training.study.blocks import BLOCKS

    settings: dict[str, dict[str, Any]] = {}
    names = [*BLOCKS] if every else study.get("metrics") or ["localisation"]
    for name in names:
        if name == "localisation" and every and "policies" not in study:
            continue
        if name == "localisation":
            settings[name] = {"policies": list(study["policies"]),
                              "pointing_tolerance_px": float(study["pointing_tolerance_px"])}
        elif name in BLOCKS:
            settings[name] = dict((study.get("blocks") or {}).get(name, {}))
    return settings
