"""Distributed data parallel under ``torchrun``: detection, set-up, and rank-0 helpers.

``torchrun --nproc-per-node N -m viewer.cli train --config FILE`` (or ``radlens train`` under
``torchrun``) sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the same command then trains with
:class:`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, Gloo on CPU). Only rank 0 writes
checkpoints, logs and the bundle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits.

    Attributes:
        world_size: Number of processes (1 when not distributed).
        rank: Global rank.
        local_rank: Rank on this machine (selects the GPU).
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect() -> DistInfo:
    """Read ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` from the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistInfo()
    return DistInfo(world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))


def setup(info: DistInfo, device: torch.device) -> None:
    """Initialise the process group (NCCL on CUDA, Gloo on CPU) when distributed."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def teardown(info: DistInfo) -> None:
    """Destroy the process group if this module created one."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def broadcast(info: DistInfo, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (identity when not distributed)."""
    if not (info.enabled and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
