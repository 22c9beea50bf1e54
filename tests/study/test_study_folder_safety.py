"""What a study folder keeps safe: a resume never mixes rows of other annotations, thresholds or
splits; one run per folder; a folder that is not a study is not written into; earlier failures
survive a stopped resume; a block taken out of ``metrics`` keeps its tables; signals wait while the
run writes its ending."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from study_helpers import study_yaml, tables_of

from training.study import StudyConfig, StudyError, parse_study, report_study, run_study
from training.study.pipeline import LOCK_FILE, _signals_wait
from training.study.store import read_failures, read_results


def _copy_data(phantom_set: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(phantom_set, data)
    return data


def _cfg(bundle: Path, data: Path, limit: int = 0, extra: str = "") -> StudyConfig:
    return parse_study(study_yaml(bundle) + extra).with_overrides(folder=str(data), limit=limit)


def test_resume_refuses_rows_scored_on_other_annotations_thresholds_or_split(
    tiny_bundle: Path, phantom_set: Path, tmp_path: Path
) -> None:
    data = _copy_data(phantom_set, tmp_path)
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    out = tmp_path / "out"
    run_study(_cfg(bundle, data, limit=2), out, workers=0, progress=False)
    study_json = (out / "study.json").read_bytes()
    assert json.loads(study_json)["data"]["annotations_sha256"]

    # 1. an edited annotation file (a label flipped): the stored rows hold the old labels
    ann = data / "train.csv"
    original = ann.read_bytes()
    ann.write_bytes(original + original.splitlines(keepends=True)[-1])
    with pytest.raises(StudyError, match=r"annotation file .*train\.csv has changed") as err:
        run_study(_cfg(bundle, data), out, workers=0, progress=False, resume=True)
    assert "new --out" in str(err.value)
    assert (out / "study.json").read_bytes() == study_json  # refused before anything was written
    ann.write_bytes(original)

    # 2. the same weights with other thresholds: the stored decisions (predicted, correct subset) are stale
    manifest = bundle / "model.json"
    doc = json.loads(manifest.read_text())
    doc["thresholds"] = [0.3] * len(doc["class_names"])
    manifest.write_text(json.dumps(doc))
    with pytest.raises(StudyError, match="other thresholds"):
        run_study(_cfg(bundle, data), out, workers=0, progress=False, resume=True)
    shutil.rmtree(bundle)
    shutil.copytree(tiny_bundle, bundle)

    # 3. a split file where there was none: rows store their image's split subset
    images = sorted(p.stem for p in (data / "images").glob("*.png"))
    (data / "split.json").write_text(json.dumps({"train": [], "val": images[:5], "test": images[5:]}))
    split = "data:\n  split: {file: split.json, subset: [val, test]}\n"
    with pytest.raises(StudyError, match=r"no split file"):
        run_study(_cfg(bundle, data, extra=split), out, workers=0, progress=False, resume=True)

    # unchanged data with another --limit resumes: the stored two images are kept, the rest scored
    summary = run_study(_cfg(bundle, data, limit=4), out, workers=0, progress=False, resume=True)
    assert summary.skipped == 2 and summary.done == 2


def test_a_second_run_on_the_same_folder_is_refused(study_cfg: StudyConfig, tmp_path: Path) -> None:
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(out / LOCK_FILE), timeout=0):  # another run holds the folder (flock: per open file)
        with pytest.raises(StudyError, match="another `radlens study run`"):
            run_study(study_cfg.with_overrides(limit=1), out, workers=0, progress=False, resume=True)
    assert not (out / "study.json").exists()
    run_study(study_cfg.with_overrides(limit=1), out, workers=0, progress=False)  # free again: it runs
    assert (out / "study.json").is_file()


def test_a_folder_that_is_not_a_study_is_not_written_into(study_cfg: StudyConfig, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF the user's own report")
    with pytest.raises(StudyError, match="not empty") as err:
        run_study(study_cfg.with_overrides(limit=1), out, workers=0, progress=False)
    assert "new or empty folder" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["report.pdf"]
    assert (out / "report.pdf").read_bytes() == b"%PDF the user's own report"
    # a study folder whose run scored nothing (study.json only) still needs --resume
    (out / "report.pdf").unlink()
    (out / "study.json").write_text("{}")
    with pytest.raises(StudyError, match="already holds a study"):
        run_study(study_cfg.with_overrides(limit=1), out, workers=0, progress=False)


def test_a_stopped_resume_keeps_the_earlier_failures(study_cfg: StudyConfig, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_study(study_cfg.with_overrides(limit=2), out, workers=0, progress=False)
    images = sorted(p.relative_to(Path(study_cfg.data.folder)).as_posix()
                    for p in Path(study_cfg.data.folder).glob("images/*.png"))
    last, third = images[-1], images[2]
    with (out / "failures.csv").open("w", newline="") as f:  # as a run that failed on these two had left it
        csv.writer(f).writerows([["file", "reason"], [third, "model: earlier error"], [last, "model: earlier error"]])
    summary = run_study(study_cfg, out, workers=0, progress=False, resume=True, cancel=lambda: True)
    assert summary.interrupted and summary.done == 1
    failures = read_failures(out)
    assert third not in failures  # scored now: no longer a failure
    assert failures[last] == "model: earlier error"  # not reached: still listed
    assert json.loads((out / "study.json").read_text())["counts"]["failed"] == len(failures)


def test_a_block_taken_out_of_metrics_keeps_its_tables(study_cfg: StudyConfig, tmp_path: Path) -> None:
    out = tmp_path / "out"
    both = parse_study(study_yaml(Path(study_cfg.models[0])) + "metrics: [localisation, classification]\n")
    both = both.with_overrides(folder=study_cfg.data.folder, limit=2)
    run_study(both, out, workers=0, progress=False)
    before = tables_of(out)
    only = parse_study(study_yaml(Path(study_cfg.models[0])) + "metrics: [classification]\n")
    summary = run_study(only.with_overrides(folder=study_cfg.data.folder, limit=2), out, workers=0, progress=False,
                        resume=True)
    assert summary.done == 0
    assert json.loads((out / "study.json").read_text())["status"] == "complete"
    assert tables_of(out) == before  # the localisation rows are still tabled, with the study's settings
    report_study(out)
    assert tables_of(out) == before
    assert {r["block"] for r in read_results(out).to_pylist()} == {"localisation", "classification"}


def test_signals_wait_while_the_run_writes_its_ending() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with _signals_wait():
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt here without the wait
        os.kill(os.getpid(), signal.SIGTERM)
        written = True
    assert written
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_images_without_annotations_and_annotations_without_images_are_listed_not_dropped(
    tiny_bundle: Path, phantom_set: Path, tmp_path: Path
) -> None:
    data = _copy_data(phantom_set, tmp_path)
    shutil.copy(data / "images" / "phantom_00001.png", data / "images" / "unlisted.png")
    ann = data / "train.csv"
    first_row = ann.read_text().splitlines()[1].split(",")
    with ann.open("a", newline="") as f:
        csv.writer(f).writerow(["ghost_0001", *first_row[1:]])
    out = tmp_path / "out"
    summary = run_study(_cfg(tiny_bundle, data, limit=1), out, workers=0, progress=False)
    assert summary.left_out == 2 and summary.done == 1
    failures = read_failures(out)
    assert failures["images/unlisted.png"].startswith("not studied: train.csv has no row for this image")
    assert "no image file" in failures["ghost_0001"]
    counts = json.loads((out / "study.json").read_text())["counts"]
    assert (counts["failed"], counts["not_studied"]) == (0, 2)  # not studied is not failed
    # the stray image moved out of the data folder: the next run lists it no more (each run lists afresh)
    (data / "images" / "unlisted.png").unlink()
    summary = run_study(_cfg(tiny_bundle, data, limit=1), out, workers=0, progress=False, resume=True)
    assert summary.left_out == 1 and list(read_failures(out)) == ["ghost_0001"]


def test_resume_also_refuses_a_file_a_foreign_folder_and_an_unreadable_study_json(
    study_cfg: StudyConfig, tmp_path: Path
) -> None:
    one = study_cfg.with_overrides(limit=1)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StudyError, match="is a file"):
        run_study(one, tmp_path / "a-file", workers=0, progress=False, resume=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="not empty"):
        run_study(one, mine, workers=0, progress=False, resume=True)
    assert sorted(p.name for p in mine.iterdir() if p.name != LOCK_FILE) == ["notes.txt"]
    out = tmp_path / "out"
    run_study(one, out, workers=0, progress=False)
    (out / "study.json").write_text('{"data": [1], "trunc')
    with pytest.raises(StudyError, match=r"study\.json is unreadable") as err:
        run_study(one, out, workers=0, progress=False, resume=True)
    assert "new --out" in str(err.value)


def test_a_killed_runs_count_stops_at_the_next_run_of_the_same_pid(tmp_path: Path) -> None:
    from training.study.report import _done_by
    from training.study.store import write_part

    base = {"model": "m", "model_name": "M", "model_version": "1", "method": "gradcam", "layer": "l",
            "params_hash": "h", "params": "{}", "class": "c", "probability": 0.5, "label": 0, "predicted": False}
    runs = [{"started": "2026-01-01T00:00:00+00:00", "pid": 4242}, {"started": "2026-01-01T01:00:00+00:00",
                                                                    "pid": 4242}]
    import time
    import unittest.mock as mock

    for image, when in (("a", "2026-01-01T00:10:00+00:00"), ("b", "2026-01-01T00:20:00+00:00"),
                        ("c", "2026-01-01T01:10:00+00:00")):  # c: the second run's, same pid
        from datetime import datetime

        ns = int(datetime.fromisoformat(when).timestamp() * 1e9)
        with mock.patch.object(time, "time_ns", return_value=ns), mock.patch("os.getpid", return_value=4242):
            write_part(tmp_path, [{**base, "image": image}])
    assert _done_by(tmp_path, runs[0], runs) == 2 and _done_by(tmp_path, runs[1], runs) == 1


def test_long_lists_of_not_studied_entries_are_capped_with_a_count() -> None:
    from training.study.data import LISTED_BEFORE_COUNT, MAX_LISTED, _capped

    few = [(f"id{i}", "not studied: x") for i in range(MAX_LISTED)]
    assert _capped(few, "ids") == few
    many = [(f"id{i}", "not studied: x") for i in range(100_000)]
    capped = _capped(many, "ids of Data_Entry_2017.csv without an image file")
    assert capped[:LISTED_BEFORE_COUNT] == many[:LISTED_BEFORE_COUNT] and len(capped) == LISTED_BEFORE_COUNT + 1
    assert capped[-1] == ("(99980 more)", "not studied: 99980 more ids of Data_Entry_2017.csv without an image "
                                          "file (the first 20 are listed)")
