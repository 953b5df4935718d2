"""TruthFlow (Wang et al. 2025, arXiv 2502.04556; wwwhy725/TruthFlow).

A rectified flow carries a question's state to its "truthful correction":
    x0 = the last-token state of the question prompt,
    x1 = mean(states of its correct answers) - mean(states of its incorrect answers).
The velocity network is their "LinearUNet": residual blocks (Linear-BatchNorm-ReLU-
Linear-BatchNorm with a shortcut) halving the width `depth` times, a bottleneck block and
mirrored up blocks with skip connections, a sinusoidal time embedding (128) concatenated
to every block's input, and a final Linear(d, d). Training: x_t = (1 - t) x0 + t x1,
t ~ U(0, 1), MSE between the predicted velocity and x1 - x0; AdamW lr 1e-4, batches of
136, 100 warm-up steps then cosine decay floored at 0.7 of the lr, 40 epochs (their
README's command).

Steering: integrate the flow from the state (midpoint rule over 16 time points in [0, 1]),
project the end point onto the top-k (k = 20) right singular directions of the training
x1 matrix, and add T times it: T plays their alpha (1.5 in the README command). The
official code computes the correction once from the question's last token and adds it
at every position of every forward pass; `positions = "prompt"` asks the runtime for the
prefill half of that (every prompt position gets the edit of the last prompt token).

Extra fit data (`requires`):
    queries   [q, d]  the last-token state of each group's question prompt (row g = group g)
    pos_group [n]     int64 group (question) of each positive row
    neg_group [m]     int64 group of each negative row
Groups lacking a positive or a negative row are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerbench.progress import Progress
from steerbench.steerers.base import Steerer
from steerbench.steerers.training import (
    check_groups,
    n_batches,
    prefixed_state,
    rows_by_group,
    run_network,
    seeded_training,
    skeleton,
    TrainedNetwork,
    training_device,
)


def time_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding [N, dim] of times t [N] (sines then cosines)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    angles = t.unsqueeze(-1) * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ResidualBlock(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(),
                                  nn.Linear(d_out, d_out), nn.BatchNorm1d(d_out))
        self.skip = (nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out)) if d_in != d_out
                     else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class LinearUNet(nn.Module):
    """Velocity v(x, t) [N, d] for states x [N, d] and times t [N]."""

    def __init__(self, d: int, depth: int = 4, scale: float = 0.5, time_dim: int = 128) -> None:
        super().__init__()
        widths = [int(d * scale**i) for i in range(depth + 1)]
        if widths[-1] < 1:
            raise ValueError(f"TruthFlow: depth={depth} shrinks d={d} below 1; use a smaller depth")
        if time_dim < 2 or time_dim % 2:
            raise ValueError(f"TruthFlow: time_dim must be an even int >= 2, got {time_dim}")
        self.time_dim = time_dim
        self.down = nn.ModuleList(ResidualBlock(widths[i] + time_dim, widths[i + 1]) for i in range(depth))
        self.mid = ResidualBlock(widths[-1] + time_dim, widths[-1])
        self.up = nn.ModuleList(ResidualBlock(2 * widths[i + 1] + time_dim, widths[i])
                                for i in reversed(range(depth)))
        self.out = nn.Linear(d, d)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        emb = time_embedding(t, self.time_dim)
        skips = []
        for block in self.down:
            x = block(torch.cat([x, emb], dim=-1))
            skips.append(x)
        x = self.mid(torch.cat([x, emb], dim=-1))
        for block in self.up:
            x = block(torch.cat([x, skips.pop(), emb], dim=-1))
        return self.out(x)


def integrate_midpoint(velocity, x: Tensor, n_points: int) -> Tensor:
    """x(1) of dx/dt = velocity(x, t) from x(0) = x, midpoint rule on n_points times in [0, 1]."""
    ts = torch.linspace(0.0, 1.0, n_points, dtype=x.dtype, device=x.device)
    for t0, t1 in zip(ts[:-1], ts[1:]):
        dt = t1 - t0
        tt = torch.full((len(x),), float(t0), dtype=x.dtype, device=x.device)
        half = x + 0.5 * dt * velocity(x, tt)
        x = x + dt * velocity(half, tt + 0.5 * dt)
    return x


def flow_pairs(queries: Tensor, pos: Tensor, neg: Tensor, pos_group: Tensor, neg_group: Tensor) -> tuple[Tensor, Tensor]:
    """(x0, x1) per group with both classes: the query state and mean(pos) - mean(neg)."""
    pos_by, neg_by = rows_by_group(pos_group), rows_by_group(neg_group)
    groups = sorted(set(pos_by) & set(neg_by))
    x0 = queries[torch.tensor(groups, dtype=torch.long)].float() if groups else queries[:0].float()
    x1 = torch.stack([pos[pos_by[g]].double().mean(0) - neg[neg_by[g]].double().mean(0) for g in groups]).float() \
        if groups else queries[:0].float()
    return x0, x1


class TruthFlow(TrainedNetwork, Steerer):
    name = "TruthFlow"
    network_prefix = "flow"
    requires = ("queries", "pos_group", "neg_group")
    positions = "prompt"

    def __init__(self, epochs: int = 40, batch_size: int = 136, lr: float = 1e-4, warmup_steps: int = 100,
                 min_lr_scale: float = 0.7, depth: int = 4, time_dim: int = 128, k: int = 20,
                 ode_points: int = 16, device: str = "auto") -> None:
        for key, v in (("epochs", epochs), ("batch_size", batch_size), ("depth", depth), ("k", k),
                       ("time_dim", time_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"TruthFlow: {key} must be a positive int, got {v!r}")
        if not isinstance(ode_points, int) or ode_points < 2:
            raise ValueError(f"TruthFlow: ode_points must be an int >= 2, got {ode_points!r}")
        if batch_size < 2:
            raise ValueError("TruthFlow: batch_size must be >= 2 (BatchNorm needs two rows)")
        if not lr > 0 or not 0 <= min_lr_scale <= 1 or warmup_steps < 0:
            raise ValueError(f"TruthFlow: need lr > 0, 0 <= min_lr_scale <= 1, warmup_steps >= 0 "
                             f"(got {lr}, {min_lr_scale}, {warmup_steps})")
        training_device(device)
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps,
                         min_lr_scale=min_lr_scale, depth=depth, time_dim=time_dim, k=k,
                         ode_points=ode_points, device=device)
        self.history: list[dict[str, float]] = []
        self._net: LinearUNet | None = None

    def _build(self) -> LinearUNet:
        hp = self.hyperparams
        return LinearUNet(self.d, hp["depth"], 0.5, hp["time_dim"])

    # ------------------------------------------------------------------ fitting
    def _fit(self, pos: Tensor, neg: Tensor, queries: Tensor, pos_group: Tensor, neg_group: Tensor) -> None:
        hp = self.hyperparams
        if queries.ndim != 2 or queries.shape[1] != self.d or not queries.is_floating_point():
            raise ValueError(f"TruthFlow.fit: queries must be float [q, {self.d}] (the layer of pos/neg), got "
                             f"{tuple(queries.shape)} {queries.dtype}")
        pos_group = check_groups(self.name, "pos_group", pos_group, len(pos), len(queries))
        neg_group = check_groups(self.name, "neg_group", neg_group, len(neg), len(queries))
        x0, x1 = flow_pairs(queries.cpu(), pos.cpu(), neg.cpu(), pos_group, neg_group)
        if len(x0) < 2:
            raise ValueError(f"TruthFlow.fit: {len(x0)} question(s) have both a correct and an incorrect answer; "
                             f"the flow needs at least 2")
        self._build()  # fails early on a depth too large for d
        # The truthful subspace: top-k right singular vectors of the x1 matrix (uncentred).
        _, svals, vh = torch.linalg.svd(x1.double(), full_matrices=False)
        keep = min(hp["k"], int((svals > svals[0] * 1e-6).sum()))
        basis = vh[:keep].float()

        device = training_device(hp["device"])
        bs = hp["batch_size"]
        with seeded_training(self.fit_seed, device) as gen:
            X0, X1 = x0.to(device), x1.to(device)
            net = self._build().to(device)
            opt = torch.optim.AdamW(net.parameters(), lr=hp["lr"])
            per_epoch = n_batches(len(X0), bs)
            total = per_epoch * hp["epochs"]

            def factor(step: int) -> float:
                if step < hp["warmup_steps"]:
                    return step / max(1, hp["warmup_steps"])
                progress = (step - hp["warmup_steps"]) / max(1, total - hp["warmup_steps"])
                return max(hp["min_lr_scale"], 0.5 * (1 + math.cos(math.pi * progress)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            bar = Progress(total, f"TruthFlow fit (d={self.d}, {len(X0)} questions)")
            self.history = []
            net.train()
            for epoch in range(hp["epochs"]):
                perm = torch.randperm(len(X0), generator=gen)
                t_all = torch.rand(len(X0), generator=gen)
                total_loss, used = 0.0, 0
                for b in range(per_epoch):
                    idx = perm[b * bs:(b + 1) * bs]
                    if len(idx) < 2:  # BatchNorm cannot train on one row: a lone last row waits
                        continue
                    a, z = X0[idx.to(device)], X1[idx.to(device)]
                    t = t_all[idx].to(device)
                    xt = (1 - t).unsqueeze(-1) * a + t.unsqueeze(-1) * z
                    loss = F.mse_loss(net(xt, t), z - a)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total_loss, used = total_loss + loss.item(), used + 1
                    bar.update(loss=loss.item())
                self.history.append({"epoch": epoch + 1, "loss": total_loss / max(1, used)})
            bar.close()
        self.state = {**prefixed_state("flow", net), "basis": basis}
        self._net = None

    # ----------------------------------------------------------------- steering
    def skeleton(self) -> LinearUNet:
        if self._net is None:
            self._net = skeleton(self._build)
        return self._net

    def transport(self, h: Tensor) -> Tensor:
        """The flow's end point for rows of h [N, d] (float32): the predicted x1."""
        s = self._tensors(h.device, torch.float32)
        return self._transport(h.float(), s)

    def _transport(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        net = self.skeleton()
        return integrate_midpoint(lambda z, t: run_network(net, "flow", s, z, t), x, self.hyperparams["ode_points"])

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        basis = s["basis"]
        end = self._transport(x, s)
        return x + T * ((end @ basis.T) @ basis)

    # ------------------------------------------------------------ persistence
    def _restore(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        super()._restore(meta, tensors)
        if "basis" not in self.state or self.state["basis"].shape[-1] != self.d:
            raise ValueError("TruthFlow: the saved file lacks its truthful subspace `basis`; refit the steerer")
