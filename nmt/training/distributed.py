"""torch.distributed for training: one process per device, started by torchrun.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; `nmt train`
sees them and joins the process group (gloo on CPU, NCCL on CUDA). Without them it is a world of
one and nothing here does any communication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from nmt.errors import NmtError


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over all ranks (float64 on the CPU: exact for token counts)."""
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return t.cpu().tolist()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_from_env(device: str) -> World:
    """Join the process group torchrun describes, or return a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
        except (RuntimeError, ValueError) as e:
            raise NmtError(f"could not join the torchrun process group: {str(e).splitlines()[0]}") from None
    return World(rank, size, local_rank)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
