"""Runs a study in a child process for the interruption and multi-node tests (not a test module).

Usage::

    python study_subprocess.py slow STUDY.yaml DATA OUT [--resume]   # radlens study run, 0.8 s per image
    python study_subprocess.py cluster STUDY.yaml DATA OUT           # two-node ray.cluster_utils.Cluster
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _slow(argv: list[str]) -> int:
    import signal

    import training.study.score as score
    from viewer.cli import main

    # A shell without job control starts background commands with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler (CI may run the suite that way): restore what a terminal
    # gives the command, so the parent's SIGINT is the user's Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    real = score.image_rows

    def slow_rows(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.8)  # so the parent can interrupt the run half-way
        return real(*args, **kwargs)

    score.image_rows = slow_rows
    study, data, out, *rest = argv
    return main(["study", "run", study, "--data", data, "--out", out, "--workers", "0", "--quiet", *rest])


def _cluster(argv: list[str]) -> int:
    import ray
    from ray.cluster_utils import Cluster

    from training.study import load_study, run_study

    study, data, out = argv
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": 200 * 1024**2})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=200 * 1024**2)
        cluster.wait_for_nodes()
        cfg = load_study(study).with_overrides(folder=data)
        summary = run_study(cfg, out, workers=2, address=cluster.address, progress=False)
        print(json.dumps({"done": summary.done, "failed": summary.failed, "nodes": len(cluster.list_all_nodes()),
                          "nodes_used": len(summary.nodes), "mode": summary.mode}))
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    sys.exit(_slow(args) if mode == "slow" else _cluster(args))
