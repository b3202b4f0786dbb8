"""Several processes: under ``torch.distributed`` (gloo, CPU, two ranks spawned here), each rank
profiles half of the batches and ``Profiler.result()`` combines every rank's counts; the result
equals the profile of one process that saw all the batches."""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import energymodel as em

T, B, NB = 3, 4, 6

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo"
)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif1 = em.LIF()
        self.fc = nn.Linear(4 * 6 * 6, 5)
        self.lif2 = em.LIF()

    def forward(self, x):  # [T, B, 2, 6, 6]
        y = self.conv(x.flatten(0, 1))
        y = self.lif1(y.reshape(x.shape[0], x.shape[1], *y.shape[1:]))
        return self.lif2(self.fc(y.flatten(2)))


def _net() -> Net:
    torch.manual_seed(0)
    net = Net().eval()
    nn.init.uniform_(net.conv.weight, -0.1, 0.5)
    nn.init.uniform_(net.fc.weight, -0.05, 0.1)
    return net


def _batches():
    g = torch.Generator().manual_seed(1)
    return [torch.rand(T, B, 2, 6, 6, generator=g) * (1 + i % 3) for i in range(NB)]


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        net = _net()
        mine = _batches()[rank::world]  # each rank sees half of the data set
        p = em.Profiler(net, batch_dim=1, timesteps=T)
        local = p.run(mine, progress=False, all_reduce=False)
        merged = p.result()  # all_reduce=True by default
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump({"local": local.to_dict(), "merged": merged.to_dict()}, f)
    finally:
        dist.destroy_process_group()


def _counts(prof: em.Profile):
    from energymodel.counting.columns import COUNT_COLUMNS

    return prof.layers.set_index("site")[list(COUNT_COLUMNS)].sort_index()


def test_two_gloo_ranks_combine_to_the_single_process_profile(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = em.Profiler(_net(), batch_dim=1, timesteps=T).run(_batches(), progress=False)
    got = []
    for r in range(2):
        d = json.loads((tmp_path / f"rank{r}.json").read_text())
        got.append((em.Profile.from_dict(d["local"]), em.Profile.from_dict(d["merged"])))
    (l0, m0), (l1, m1) = got
    assert l0.samples == l1.samples == NB // 2 * B
    assert not _counts(l0).equals(_counts(l1))  # the ranks really saw different data
    for merged in (m0, m1):  # every rank gets the global profile
        assert merged.samples == single.samples == NB * B
        assert _counts(merged).equals(_counts(single))  # exact: counts are integer sums
        assert merged.totals().equals(single.totals())
        a, b = merged.rate_spread().set_index("site"), single.rate_spread().set_index("site")
        assert (a["batches"] == NB).all()
        assert (a["rate_min"] == b["rate_min"]).all() and (a["rate_max"] == b["rate_max"]).all()
        assert a["rate_mean"].tolist() == pytest.approx(b["rate_mean"].tolist(), rel=1e-12)
    assert single.totals()["spikes_out"] > 0
