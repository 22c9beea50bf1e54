"""Crash safety: Ctrl-C stops cleanly, SIGKILL half-way loses at most the batch in flight, and
``--resume`` then gives tables identical to an uninterrupted run. Multi-node: a two-node
``ray.cluster_utils.Cluster`` gives the in-process results. Both in child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from study_helpers import N_IMAGES, REPO, study_yaml, tables_of

from training.study import StudyConfig, run_study
from training.study.report import settle_killed_run
from training.study.store import part_files

SCRIPT = Path(__file__).with_name("study_subprocess.py")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("RAY_ADDRESS", None)
    return env


def _start_slow(study: Path, data: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SCRIPT), "slow", str(study), str(data), str(out), *extra],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_parts(proc: subprocess.Popen[str], out: Path, n: int, timeout: float = 180.0) -> None:
    end = time.time() + timeout
    while len(part_files(out)) < n:
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
        assert time.time() < end, "the run wrote no result in time"
        time.sleep(0.1)


def test_ctrl_c_then_sigkill_then_resume_gives_the_uninterrupted_tables(
    tiny_bundle: Path, phantom_set: Path, study_cfg: StudyConfig, reference_run: Path, tmp_path: Path
) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(study_yaml(tiny_bundle, batch_size=1))
    out = tmp_path / "out"

    proc = _start_slow(study, phantom_set, out)  # 1. Ctrl-C after the first part
    _wait_for_parts(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Resume with:" in stderr
    advice = stderr.split("Resume with:")[1].split()
    assert advice[:4] == ["radlens", "study", "run", str(study)] and advice[-1] == "--resume"
    assert advice[advice.index("--out") + 1] == str(out) and advice[advice.index("--data") + 1] == str(phantom_set)
    assert json.loads((out / "study.json").read_text())["status"] == "interrupted"
    after_ctrl_c = len(part_files(out))
    assert 1 <= after_ctrl_c < N_IMAGES - 1

    proc = _start_slow(study, phantom_set, out, "--resume")  # 2. SIGKILL half-way through the resumed run
    _wait_for_parts(proc, out, after_ctrl_c + 2)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(part_files(out))
    assert killed_at < N_IMAGES - 1  # really half-way: some images are still to do
    assert json.loads((out / "study.json").read_text())["status"] == "running"  # it could not say otherwise
    resume = f"radlens study run {study} --out {out} --data {phantom_set} --workers 0 --resume"
    assert settle_killed_run(out) == resume  # the killed run's own command line
    settled = json.loads((out / "study.json").read_text())
    assert settled["status"] == settled["runs"][-1]["status"] == "killed"
    assert settled["counts"]["done"] == killed_at  # one image per part (batch_size 1)
    # the killed run's own count, from the parts its pid wrote after it started
    assert settled["runs"][-1]["done"] == killed_at - after_ctrl_c
    assert settle_killed_run(out) is None  # settled once

    summary = run_study(study_cfg, out, workers=0, progress=False, resume=True)  # 3. resume to the end
    assert summary.skipped == killed_at and summary.done == N_IMAGES - 1 - killed_at
    assert not list((out / "results").glob(".*"))  # no half-written part is left behind
    assert tables_of(out) == tables_of(reference_run)
    study_json = json.loads((out / "study.json").read_text())
    assert study_json["status"] == "complete" and len(study_json["runs"]) == 3
    assert [r["status"] for r in study_json["runs"]] == ["interrupted", "killed", "complete"]
    assert study_json["counts"] == {"images": N_IMAGES, "done": N_IMAGES - 1, "failed": 1, "not_studied": 0}


def test_sigterm_stops_like_ctrl_c_and_resume_completes(
    tiny_bundle: Path, phantom_set: Path, study_cfg: StudyConfig, reference_run: Path, tmp_path: Path
) -> None:
    """``kill``, Slurm and Kubernetes stop a run with SIGTERM (and a run started in the background
    ignores Ctrl-C): it stops as Ctrl-C does, keeps what is scored and says how to resume."""
    study = tmp_path / "study.yaml"
    study.write_text(study_yaml(tiny_bundle, batch_size=1))
    out = tmp_path / "out"
    proc = _start_slow(study, phantom_set, out)
    _wait_for_parts(proc, out, 1)
    proc.send_signal(signal.SIGTERM)
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM: the images already scored are kept. Resume with:" in stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "study.json").read_text())["status"] == "interrupted"
    kept = len(part_files(out))
    assert 1 <= kept < N_IMAGES - 1

    summary = run_study(study_cfg, out, workers=0, progress=False, resume=True)
    assert summary.skipped == kept
    assert tables_of(out) == tables_of(reference_run)


def test_two_node_cluster_gives_the_in_process_results(
    tiny_bundle: Path, phantom_set: Path, reference_run: Path, tmp_path: Path
) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(study_yaml(tiny_bundle))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "cluster", str(study), str(phantom_set), str(out)],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # both nodes scored images (the actor pool is spread over the nodes)
    assert summary == {"done": N_IMAGES - 1, "failed": 1, "nodes": 2, "nodes_used": 2, "mode": "ray"}
    assert tables_of(out) == tables_of(reference_run)


def test_starting_ray_keeps_the_callers_sigterm_handler() -> None:
    """``ray.init`` replaces the SIGTERM handler with one that exits the process: a run on Ray would end
    as "failed" without its clean-up. The handler the CLI set is put back (in a child: a fresh Ray)."""
    code = "\n".join([
        "import signal, ray",
        "from training.study.pipeline import _ensure_ray",
        "def mine(signum, frame): pass",
        "signal.signal(signal.SIGTERM, mine)",
        "assert _ensure_ray(None)",
        "kept = signal.getsignal(signal.SIGTERM) is mine",
        "ray.shutdown()",
        "print('kept' if kept else 'replaced')",
    ])
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "kept"


def test_a_running_study_alive_or_elsewhere_is_not_called_killed(reference_run: Path, tmp_path: Path) -> None:
    """Only a run started on this machine whose process is gone is settled as killed."""
    import platform
    import shutil

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(gone.stdout)
    for host, pid, settled in ((platform.node(), os.getpid(), False), ("another-node", dead_pid, False),
                               (platform.node(), dead_pid, True)):
        out = tmp_path / f"{host}-{pid}"
        shutil.copytree(reference_run, out)
        doc = json.loads((out / "study.json").read_text())
        doc["status"] = doc["runs"][-1]["status"] = "running"
        doc["runs"][-1].update(host=host, pid=pid)
        (out / "study.json").write_text(json.dumps(doc))
        assert (settle_killed_run(out) is not None) is settled, (host, pid)
        assert json.loads((out / "study.json").read_text())["status"] == ("killed" if settled else "running")


def test_an_earlier_run_left_running_is_settled_as_killed(reference_run: Path, tmp_path: Path) -> None:
    """A run record still ``running`` that later runs followed (one written before runs recorded their
    host and pid, too) ended without its clean-up: ``study report`` marks it killed and keeps the rest."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(reference_run, out)
    doc = json.loads((out / "study.json").read_text())
    complete = dict(doc["runs"][-1])
    doc["runs"] = [{"command": "radlens study run x", "status": "running", "done": 0}, complete]
    (out / "study.json").write_text(json.dumps(doc))
    assert settle_killed_run(out) is None  # the last run completed: nothing to resume
    settled = json.loads((out / "study.json").read_text())
    assert [r["status"] for r in settled["runs"]] == ["killed", "complete"]
    assert settled["status"] == "complete" and settled["runs"][-1] == complete
