"""A dispatch-mode spy shared by the tests that check the profiler issues no host read."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class HostReadSpy(TorchDispatchMode):
    """Counts ``aten._local_scalar_dense`` calls (a host read of a tensor value: ``.item()``,
    ``bool()``, ``float()``) made while it is active, in ``self.reads``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        return func(*args, **(kwargs or {}))
