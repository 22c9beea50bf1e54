"""``radlens study``: ``run STUDY``, ``presets``, ``report OUT``."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Iterator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``run``/``presets``/``report`` actions of ``radlens study`` to ``parser``."""
    sub = parser.add_subparsers(dest="study_action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run a study (YAML file or preset:NAME) into --out",
                         description="Run a study: explain and score every image, resumable, on Ray.")
    run.add_argument("study", metavar="STUDY", help="a study YAML file or preset:NAME (see `radlens study presets`)")
    run.add_argument("--data", default=None, metavar="DIR", help="data set folder (overrides data.folder)")
    run.add_argument("--out", default="study-out", metavar="DIR", help="output folder (default: study-out)")
    run.add_argument("--limit", type=int, default=None,
                     help="only the first N images (0 = all, also when the study file sets data.limit)")
    run.add_argument("--address", default=None, metavar="ADDR",
                     help="join this Ray cluster (auto or ray://HOST:PORT; default: RAY_ADDRESS, else a local Ray)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="scoring actors (default: one per CPU, or per GPU); 0 runs in this process")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the models run")
    run.add_argument("--resume", action="store_true", help="skip what the --out folder already holds")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("presets", help="list the built-in studies")
    rep = sub.add_parser("report", help="re-render the tables, figures and report.pdf from the stored results")
    rep.add_argument("out", metavar="OUT", help="the --out folder of a study run")


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; returns the exit code."""
    from training.study import list_presets, load_study, report_study, run_study

    if args.study_action == "presets":
        for name, description in list_presets().items():
            print(f"preset:{name:<16} {description}")
        return 0
    if args.study_action == "report":
        from training.study.report import settle_killed_run

        resume = settle_killed_run(args.out)
        if resume is not None:
            print("the last run of this study was killed (its process is gone and it never finished); study.json "
                  f"now says so. The images it scored are kept. Resume with:\n  {resume}", file=sys.stderr)
        for path in report_study(args.out):
            print(f"wrote {path}")
        return 0
    if args.limit is not None and args.limit < 0:
        print("radlens study run: --limit must be >= 0", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 0:
        print("radlens study run: --workers must be >= 0", file=sys.stderr)
        return 2
    cfg = load_study(args.study).with_overrides(folder=args.data, limit=args.limit)
    command = _command(args)
    with _sigterm_stops_cleanly() as caught:
        summary = run_study(cfg, args.out, workers=args.workers, address=args.address, device=args.device,
                            resume=args.resume, progress=not args.quiet, command=command)
    print(f"study {cfg.name}: {summary.done} image(s) done, {summary.failed} failed, {summary.skipped} already "
          f"done, {summary.rows} rows in {summary.seconds:.1f} s -> {summary.out}")
    if summary.left_out:
        print(f"  {summary.left_out} image file(s) or annotated id(s) not studied (an image without annotations "
              f"or an annotation without its image): {summary.out / 'failures.csv'}")
    if summary.failed:
        print(f"  failures: {summary.out / 'failures.csv'}")
    if summary.interrupted:
        how = "stopped by SIGTERM" if caught else "interrupted"
        print(f"{how}: the images already scored are kept. Resume with:\n  "
              + _command(args, resume=True), file=sys.stderr)
        return 128 + signal.SIGTERM if caught else 130
    print(f"  tables: {summary.out / 'tables'}  study: {summary.out / 'study.json'}")
    return 0


def _command(args: argparse.Namespace, *, resume: bool | None = None) -> str:
    """The ``radlens study run`` command line of ``args`` (``resume`` overrides ``--resume``)."""
    words = ["radlens", "study", "run", args.study, "--out", str(args.out)]
    for flag, value in (("--data", args.data), ("--limit", args.limit), ("--address", args.address),
                        ("--workers", args.workers)):
        if value is not None:
            words += [flag, str(value)]
    if args.device != "auto":
        words += ["--device", args.device]
    if args.resume if resume is None else resume:
        words.append("--resume")
    return shlex.join(words)


@contextlib.contextmanager
def _sigterm_stops_cleanly() -> Iterator[list[int]]:
    """While the study runs, SIGTERM stops it as Ctrl-C does: the images already scored are kept,
    ``study.json`` says ``interrupted`` and the resume command is printed.

    ``kill``, Slurm at the end of a job's time, Kubernetes and systemd all stop a process with SIGTERM;
    so does a user whose run was started in the background (where the shell makes it ignore Ctrl-C).
    A second SIGTERM during the clean-up is ignored (the clean-up writes one part and the tables).
    Yields the list the caught signal numbers are appended to.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # signals are only set from the main thread
        yield caught
        return

    def stop(signum: int, _frame: object) -> None:
        if not caught:
            caught.append(signum)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield caught
    finally:
        signal.signal(signal.SIGTERM, previous)
