"""Running a study: a Ray Data stream (or the same functions in-process) into the Parquet store.

Stream: list files -> :func:`~training.study.score.decode_row` -> :class:`~training.study.score.Scorer`
in an actor pool (``map_batches`` with a callable class: each actor loads the models once; one GPU
per actor on CUDA) -> the driver writes one Parquet part per batch. ``workers=0`` runs the same
decode and scorer in this process, with identical rows.

Where decoding runs: with GPU actors it is a stage of CPU tasks of its own, so the CPUs decode while
the GPUs score. With CPU actors the decode stage asks for the same resources as the scoring stage and
Ray Data fuses the two (``Map(decode_row)->MapBatches(Scorer)``): each actor decodes its own batch.
On CPUs separate decode tasks gain nothing (they take their CPU from the scorers) and cost a worker
process per task slot to start, a copy of every decoded image through the object store and, measured
on the loaded 2-core machine, ~25 s before the first image was scored (issue #15, ``docs/studies.md``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.study.blocks import BLOCKS
from training.study.config import StudyConfig
from training.study.data import NOT_STUDIED, WorkList, list_work
from training.study.errors import StudyError
from training.study.plan import plan_models
from training.study.report import STUDY_JSON, check_resume, write_study_json
from training.study.score import ModelPlan, Scorer, decode_row, task_key
from training.study.store import (
    done_keys,
    part_files,
    read_failures,
    remove_temporary,
    write_failures,
    write_part,
)
from training.study.tables import render_tables

#: CPUs each scoring actor reserves: fractional, so that two actors on a 2-core machine leave room
#: for the read stage (a whole CPU each starves it and the stream hangs, SPEC 11). Each actor runs
#: torch with one thread per whole CPU it reserved, at least one (:class:`~training.study.score.Scorer`).
ACTOR_CPUS = 0.5
#: CPUs of one decode task when the actors score on GPUs: different from :data:`ACTOR_CPUS` so Ray
#: keeps decoding a separate stage of CPU tasks. CPU actors decode their own batches (fused stage).
DECODE_CPUS = 0.25
#: Seconds the actor pool may take to start (model loading included) before the study fails.
ACTOR_START_TIMEOUT_S = 600
#: Times Ray restarts a scoring actor whose process died (a node lost, the kernel's OOM killer) and retries
#: its batch. Ray Data's default is for ever: an image that kills the process would hang the study.
ACTOR_RESTARTS = 2
#: Seconds Ray Data may see no batch finish before it fails the run. Its default, 30 min, failed a
#: sanity study on a loaded machine (a batch of 4 images at minutes each, 49 min of scoring lost);
#: hangs are bounded otherwise (actor start: ACTOR_START_TIMEOUT_S, dead actors: ACTOR_RESTARTS).
NO_PROGRESS_TIMEOUT_S = 6 * 3600
#: The lock file a run holds in its output folder (one run per folder at a time).
LOCK_FILE = ".study.lock"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunSummary:
    """What one ``study run`` did."""

    out: Path
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    rows: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: dict[str, str] = field(default_factory=dict)
    #: Image files without annotations and annotated ids without an image file (in ``failures.csv``).
    left_out: int = 0
    mode: str = ""
    nodes: set[str] = field(default_factory=set)
    first_result_s: float | None = None
    last_result_s: float | None = None
    scoring_start_s: float | None = None

    def note_result(self, seconds: float, started: float | None) -> None:
        """Record an image that reached the driver ``seconds`` after the run started, its decoding having
        started ``started`` seconds after the run started (see :meth:`timings`)."""
        if self.first_result_s is None:
            self.first_result_s = seconds
        self.last_result_s = seconds
        if started is not None and (self.scoring_start_s is None or started < self.scoring_start_s):
            self.scoring_start_s = started

    def timings(self) -> dict[str, float | None]:
        """Where the run's time went (``study.json``'s ``timings``), in seconds from the run's start.

        ``scoring_start_s``: when the first image's decoding started (after planning, Ray, the actors
        and their model loading); ``first_image_s``/``last_image_s``: when the first/last image reached
        the store; ``steady_images_per_s``: the images over ``last_image_s - scoring_start_s`` (the
        throughput with start-up excluded, everything after it included).
        """
        first, last, begin = self.first_result_s, self.last_result_s, self.scoring_start_s
        steady = None
        if last is not None and begin is not None and last > begin:
            steady = (self.done + self.failed) / (last - begin)
        return {"scoring_start_s": _round(begin), "first_image_s": _round(first), "last_image_s": _round(last),
                "steady_images_per_s": _round(steady)}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _todo(work: WorkList, plans: list[ModelPlan], done: set[str]) -> list[dict[str, Any]]:
    rows = []
    for item in work.items:
        keys = [task_key(item.image, p.sha256, t) for p in plans for t in p.tasks]
        missing = [k for k in keys if k not in done]
        if missing:
            rows.append({**item.to_row(), "todo": json.dumps(missing)})
    return rows


def _scorer_args(plans: list[ModelPlan], settings: dict[str, dict[str, Any]], device: str) -> dict[str, Any]:
    return {"plans": [p.to_dict() for p in plans], "settings": settings, "device": device}


def _in_process(rows: list[dict[str, Any]], scorer_args: dict[str, Any], batch_size: int) -> Iterator[dict[str, Any]]:
    """The decode and scoring functions of the Ray stream, here, in batches of ``batch_size``."""
    scorer = Scorer(**scorer_args)
    for start in range(0, len(rows), max(1, batch_size)):
        yield from scorer.score_rows([decode_row(r) for r in rows[start:start + max(1, batch_size)]])


def _ensure_ray(address: str | None) -> bool:
    """Connect to (or start) Ray; returns True when this call started it (so it must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}}
    address = address or os.environ.get("RAY_ADDRESS") or None
    # ray.init replaces the SIGTERM handler with one that exits the process (the run would end as
    # "failed" without its clean-up); a handler the caller set (the CLI's: SIGTERM stops like
    # Ctrl-C) is put back. Signal handlers are only read and set from the main thread.
    main = threading.current_thread() is threading.main_thread()
    caller = signal.getsignal(signal.SIGTERM) if main else None
    try:
        if address:
            ray.init(address=address, runtime_env=env, logging_level=logging.WARNING, log_to_driver=False)
        else:
            # address="local": a new Ray of this machine's cores, even when another Ray runs here
            # (without it, ray.init joins that one; --address or RAY_ADDRESS is how to join).
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, runtime_env=env,
                     logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise StudyError(f"cannot start or join Ray ({exc}).",
                         fix="check --address / RAY_ADDRESS (e.g. auto or ray://HOST:10001), or run with "
                         "--workers 0 to run in this process.") from exc
    finally:
        if callable(caller) and signal.getsignal(signal.SIGTERM) is not caller:
            signal.signal(signal.SIGTERM, caller)
    return True


def _on_ray(rows: list[dict[str, Any]], scorer_args: dict[str, Any], workers: int | None,
            batch_size: int, device: str) -> Iterator[dict[str, Any]]:
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ds: ray.data.Dataset
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # start scoring only when every actor has loaded its models (so the pool shares the work from the
    # first image), and give up with an error instead of waiting forever for resources that never come
    ctx.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
    ctx.execution_no_progress_timeout_s = NO_PROGRESS_TIMEOUT_S
    gpus = ray.cluster_resources().get("GPU", 0)
    if device == "cuda" and gpus < 1:
        raise StudyError("--device cuda was asked for but the Ray cluster has no GPU.",
                         fix="use --device auto or cpu, or join a cluster with GPU nodes (--address).")
    use_gpu = device == "cuda" or (device == "auto" and gpus > 0)
    if workers is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = max(1, min(len(rows), int(gpus) if use_gpu else cpus))
    # one block per batch: decoded pixels stream through in small pieces (bounded memory)
    ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // batch_size)))
    # CPU actors: the same resources as the scoring stage, so Ray fuses decoding into the actors
    ds = ds.map(decode_row, num_cpus=DECODE_CPUS if use_gpu else ACTOR_CPUS)
    # Ray Data spreads the actors over the nodes (its default actor scheduling strategy is SPREAD)
    # bounded restarts: Ray Data's documented knob is map_batches(..., max_restarts=N), which Ray 2.60
    # warns will move to named parameters in 2.64 (none exists yet for actors)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map_batches(Scorer, fn_constructor_kwargs={**scorer_args, "device": "cuda" if use_gpu else "cpu"},
                            compute=ray.data.ActorPoolStrategy(size=workers), batch_size=batch_size,
                            num_cpus=ACTOR_CPUS, num_gpus=1 if use_gpu else 0, batch_format="numpy",
                            max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(batch["image"])):
                yield {**{k: str(batch[k][i]) for k in ("image", "rows", "error", "node")},
                       "started": float(batch["started"][i])}
    except (ray.exceptions.RayError, ray.data.exceptions.ExecutionTimeoutError) as exc:  # e.g. an actor could not
        # load a model on its node; the no-progress guard's error is not a RayError
        raise StudyError(f"the Ray stream failed ({type(exc).__name__}: {str(exc).splitlines()[0]}).",
                         fix="fix the cause and run again with --resume (what is stored is kept); --workers 0 "
                         "runs in this process and shows the full error. A scoring process that died on the "
                         f"same batch {ACTOR_RESTARTS + 1} times (killed by the system, e.g. out of memory) "
                         "ends the run here rather than retrying for ever.") from exc


@dataclass(frozen=True)
class StudyProgress:
    """Where a running study stands (given to ``run_study``'s ``on_progress`` after every image).

    Attributes:
        done: Images finished in this run (scored or failed); total: images to do in this run.
        failed: Images that failed in this run; skipped: images already done (``--resume``).
        images_per_s: Finished images per second since the run started (0 before the first).
        eta_s: Seconds left at that rate (None before the first image).
    """

    done: int
    total: int
    failed: int
    skipped: int
    images_per_s: float
    eta_s: float | None

    def text(self) -> str:
        """``12/200 images · 1.3 images/s · ETA 2 min 24 s · 1 failure``."""
        eta = "ETA –" if self.eta_s is None else f"ETA {_duration(self.eta_s)}"
        fails = f"{self.failed} failure{'s' if self.failed != 1 else ''}"
        return f"{self.done}/{self.total} images · {self.images_per_s:.2f} images/s · {eta} · {fails}"


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def run_study(
    cfg: StudyConfig, out: str | Path, *, workers: int | None = None, address: str | None = None,
    device: str = "auto", resume: bool = False, progress: bool = True, command: str = "",
    on_progress: Callable[[StudyProgress], None] | None = None, cancel: Callable[[], bool] | None = None,
) -> RunSummary:
    """Run a study into ``out`` (see the module docstring) and render its tables.

    Args:
        cfg: The validated study (``--data``/``--limit`` already applied).
        out: Output folder.
        workers: Scoring actors; 0 runs in this process; None = one per CPU (or GPU) of the cluster.
        address: Ray cluster to join (``auto``, ``ray://HOST:PORT``); None with no ``RAY_ADDRESS``
            starts a local Ray.
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: Skip the (image, model, method, layer, parameters) units already in the store.
        progress: Show a progress bar on stderr.
        command: The command line, recorded in ``study.json`` and printed with resume advice.
        on_progress: Called after every finished image (the viewer's task system shows it).
        cancel: Polled after every finished image; True stops the run as Ctrl-C does (the images
            already scored are kept, ``study.json`` says ``interrupted``, ``resume=True`` continues).

    Raises:
        StudyError: Without ``resume``, the folder holds a study or other files; with it, the stored
            rows were scored on other annotations or thresholds (:func:`~training.study.report.check_resume`);
            another run holds the folder; Ray cannot be reached.
        StudyConfigError: A layer does not exist in a model.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StudyError("the output folder is a file.", path=out, fix="choose a folder with --out.")
    out.mkdir(parents=True, exist_ok=True)
    had_lock_file = (out / LOCK_FILE).exists()
    with _only_run(out):
        try:
            _check_out(out, resume)  # under the lock: no run can start or end between the check and this run
        except StudyError:
            if not had_lock_file:  # leave a refused folder as it was (Windows keeps an open file: then it stays)
                with contextlib.suppress(OSError):
                    (out / LOCK_FILE).unlink(missing_ok=True)
            raise
        return _run_locked(cfg, out, workers=workers, address=address, device=device, resume=resume,
                           progress=progress, command=command, on_progress=on_progress, cancel=cancel)


def _check_out(out: Path, resume: bool) -> None:
    """The output folder is empty, or holds a study and ``resume`` is on: nothing else kept there is
    overwritten (with ``resume`` too: a mistyped ``--out`` must not fill someone's folder)."""
    study = bool(part_files(out)) or (out / STUDY_JSON).is_file()
    if study and not resume:
        raise StudyError("the output folder already holds a study.", path=out,
                         fix="pass --resume to continue that study, or choose another --out.")
    if not study and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise StudyError("the output folder is not empty (and holds no study).", path=out,
                         fix="choose a new or empty folder with --out: a study writes study.json, results/, "
                         "tables/, figures/, failures.csv and report.pdf there.")


@contextlib.contextmanager
def _only_run(out: Path) -> Iterator[None]:
    """Hold ``OUT/.study.lock`` while the study runs: a second run on the same folder is refused, not
    interleaved (it would delete the first one's part in flight and score every image twice)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise StudyError("another `radlens study run` is writing to this folder.", path=out,
                         fix="wait for it to end (or stop it), then run again with --resume.") from None
    try:
        yield
    finally:
        lock.release()


def _run_locked(cfg: StudyConfig, out: Path, *, workers: int | None, address: str | None, device: str,
                resume: bool, progress: bool, command: str, on_progress: Callable[[StudyProgress], None] | None,
                cancel: Callable[[], bool] | None) -> RunSummary:
    start = time.time()
    plans = plan_models(cfg)
    classes = tuple(dict.fromkeys(c for p in plans for c in p.class_names))
    work = list_work(cfg.data, classes)
    if resume:
        check_resume(out, plans, work)
        remove_temporary(out)
    done = done_keys(out) if resume else set()
    rows = _todo(work, plans, done)
    summary = RunSummary(out=out, total=len(work.items), skipped=len(work.items) - len(rows),
                         mode="in-process" if workers == 0 else "ray")
    settings = cfg.block_settings()
    joined = address or os.environ.get("RAY_ADDRESS") or ""

    def record(status: str) -> None:
        write_study_json(out, cfg, summary, status=status, plans=plans, work=work, command=command,
                         device=device, workers=workers, address=joined)

    record("running")
    # earlier failures stay listed until this run scores (or fails) that image again: a run stopped
    # before it reaches them must not forget them
    failures = {k: v for k, v in (read_failures(out) if resume else {}).items() if not v.startswith(NOT_STUDIED)}
    failures.update(work.left_out)  # what the data set has but cannot study, listed afresh each run
    summary.left_out = len(work.left_out)
    started_ray = False
    bar = _progress_bar(len(rows), progress)
    buffer: list[dict[str, Any]] = []

    def flush() -> None:
        summary.rows += len(buffer)
        write_part(out, buffer)
        buffer.clear()
        write_failures(out, failures.items())

    try:
        if workers == 0 or not rows:
            stream = _in_process(rows, _scorer_args(plans, settings, device), cfg.batch_size)
        else:
            started_ray = _ensure_ray(address)
            stream = _on_ray(rows, _scorer_args(plans, settings, device), workers, cfg.batch_size, device)
        pending = 0
        began = time.time()
        for res in stream:
            buffer.extend(json.loads(res["rows"]))  # a model that failed leaves the others' rows
            if res["error"]:
                failures[res["image"]] = res["error"]
                summary.failed += 1
            else:
                failures.pop(res["image"], None)
                summary.done += 1
            summary.nodes.add(res["node"])
            summary.note_result(time.time() - start, float(res["started"]) - start if res.get("started") else None)
            pending += 1
            bar.update(1)
            bar.set_postfix(failures=summary.failed)
            if pending >= cfg.batch_size:
                flush()
                pending = 0
            if on_progress is not None:
                finished = summary.done + summary.failed
                rate = finished / max(1e-9, time.time() - began)
                on_progress(StudyProgress(finished, len(rows), summary.failed, summary.skipped, rate,
                                          (len(rows) - finished) / rate if rate > 0 else None))
            if cancel is not None and cancel():
                raise KeyboardInterrupt
        with _signals_wait():
            flush()
    except KeyboardInterrupt:
        summary.interrupted = True
        with _signals_wait():
            flush()  # the images already scored are kept
    except BaseException:
        with _signals_wait():
            flush()
            summary.seconds = time.time() - start
            record("failed")
        raise
    finally:
        bar.close()
        if started_ray:
            import ray

            with _signals_wait():
                ray.shutdown()
    with _signals_wait():  # seconds (minutes for a large study): the run ends with its tables, study.json, report
        summary.failures = dict(failures)
        summary.seconds = time.time() - start
        render_tables(out, settings=settings, others={n: b.settings_of(cfg) for n, b in BLOCKS.items()})
        record("interrupted" if summary.interrupted else "complete")
        from training.study.pdf import write_report

        write_report(out)
    return summary


@contextlib.contextmanager
def _signals_wait() -> Iterator[None]:
    """Hold SIGINT and SIGTERM off while the run writes what it has (a part, the tables, ``study.json``,
    the report: seconds, minutes for a large study), so a second Ctrl-C or a SIGTERM then cannot leave
    ``study.json`` saying ``running`` over a half-written ending. A signal that came in the meantime is
    ignored: the run is ending anyway. Only the main thread can set signal handlers; elsewhere this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="study", file=sys.stderr, dynamic_ncols=True)
