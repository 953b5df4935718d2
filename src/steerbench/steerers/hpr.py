"""HPR, Householder Pseudo-Rotation (Pham & Nguyen, EMNLP 2024; VinAIResearch/HPR).

Per layer, two networks are trained on paired (positive, negative) activations:

- a bias-free linear probe w (sigmoid; positive = 1), whose weight is also the normal of
  a Householder reflection H a = a - 2 (w.a) w / |w|^2;
- an angle network d -> d/2 -> d/4 -> d/8 -> 1 (GELU between layers), output
  pi * sigmoid(.), regressing the angle from an activation to its paired positive
  (0 for a positive itself).

Loss: BCE of the probe + MSE of the angle. AdamW (lr 5e-4, no weight decay), 5 epochs,
batches of 16 pairs, linear warm-up (5 %) and decay, and the epoch whose probe accuracy on
held-out groups is best is kept, as the official training script does.

Steering: an activation the probe calls positive (w.a >= 0) is left alone. Otherwise it
is rotated in the plane of (a, Ha), towards Ha, by gamma1 = T * theta(a): T plays the
official alpha (1 in their scripts). That is the official
a' = [sin(gamma1) Ha + sin(gamma2 - gamma1) a] / sin(gamma2), gamma2 = angle(a, Ha),
written as a rotation (|a| (cos(gamma1) u + sin(gamma1) e), u = a/|a|, e the unit
direction of w's part orthogonal to a) so it stays exact when gamma2 is near 0 or pi. The
norm of every activation is preserved.

Extra fit data (`requires`):
    pos_group [n] int64   the question/prompt index of each positive row
    neg_group [m] int64   the same for each negative row
Every positive is paired with every negative of its group (the official code pairs all
correct with all incorrect answers of a question); groups lacking one side are skipped.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steerbench.progress import Progress
from steerbench.steerers.base import Steerer
from steerbench.steerers.training import (
    angle_between,
    check_groups,
    linear_warmup_decay,
    n_batches,
    prefixed_state,
    rows_by_group,
    run_network,
    seeded_training,
    skeleton,
    TrainedNetwork,
    training_device,
)


class HPRNet(nn.Module):
    """Probe (bias-free linear) and angle regressor of one layer."""

    def __init__(self, d: int, angle_layers: int) -> None:
        super().__init__()
        self.probe = nn.Linear(d, 1, bias=False)
        widths = [d // 2**i for i in range(angle_layers)]
        if widths[-1] < 1:
            raise ValueError(f"HPR: angle_layers={angle_layers} halves d={d} below 1; use fewer angle layers")
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.GELU()]
        layers.append(nn.Linear(widths[-1], 1))
        self.angle = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(probe logit [N], angle in (0, pi) [N])."""
        return self.probe(x).squeeze(-1), math.pi * torch.sigmoid(self.angle(x).squeeze(-1))


def pair_rows(pos_group: Tensor, neg_group: Tensor) -> dict[int, tuple[Tensor, Tensor]]:
    """{group: (pos row, neg row) index pairs}: every positive with every negative of the group."""
    pos_by, neg_by = rows_by_group(pos_group), rows_by_group(neg_group)
    out = {}
    for g in sorted(set(pos_by) & set(neg_by)):
        p, q = pos_by[g], neg_by[g]
        out[g] = (p.repeat_interleave(len(q)), q.repeat(len(p)))
    return out


def rotate_towards_reflection(x: Tensor, w: Tensor, gamma1: Tensor) -> Tensor:
    """Rows of x rotated by gamma1 in the plane of (x, Hx) towards Hx (H: reflection about
    the hyperplane of normal w); rows where that plane is undefined are returned unchanged."""
    norm = x.norm(dim=-1, keepdim=True)
    u = x / norm.clamp_min(1e-30)
    wn = w / w.norm()
    perp = wn - (u @ wn).unsqueeze(-1) * u
    pnorm = perp.norm(dim=-1, keepdim=True)
    ok = (norm > 0) & (pnorm > 1e-12)
    e = perp / pnorm.clamp_min(1e-30)
    g = gamma1.unsqueeze(-1)
    return torch.where(ok, norm * (torch.cos(g) * u + torch.sin(g) * e), x)


class HPR(TrainedNetwork, Steerer):
    name = "HPR"
    network_prefix = "net"
    requires = ("pos_group", "neg_group")
    # The official generation mode edits the last position of every forward pass.
    positions = "last"

    def __init__(self, epochs: int = 5, batch_size: int = 16, lr: float = 5e-4, warmup_ratio: float = 0.05,
                 angle_layers: int = 4, val_fraction: float = 0.1, device: str = "auto") -> None:
        for key, v in (("epochs", epochs), ("batch_size", batch_size), ("angle_layers", angle_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"HPR: {key} must be a positive int, got {v!r}")
        if not lr > 0 or not 0 <= warmup_ratio < 1 or not 0 <= val_fraction < 1:
            raise ValueError(f"HPR: need lr > 0, 0 <= warmup_ratio < 1, 0 <= val_fraction < 1 "
                             f"(got {lr}, {warmup_ratio}, {val_fraction})")
        training_device(device)
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, warmup_ratio=warmup_ratio,
                         angle_layers=angle_layers, val_fraction=val_fraction, device=device)
        self.history: list[dict[str, float]] = []
        self._net: HPRNet | None = None

    # ------------------------------------------------------------------ fitting
    def _fit(self, pos: Tensor, neg: Tensor, pos_group: Tensor, neg_group: Tensor) -> None:
        hp = self.hyperparams
        pos_group = check_groups(self.name, "pos_group", pos_group, len(pos))
        neg_group = check_groups(self.name, "neg_group", neg_group, len(neg))
        pairs = pair_rows(pos_group, neg_group)
        if not pairs:
            raise ValueError(
                "HPR.fit: no group has both a positive and a negative row, so there is nothing to "
                "pair; pos_group/neg_group must give each answer its question's index"
            )
        device = training_device(hp["device"])
        with seeded_training(self.fit_seed, device) as gen:
            groups = list(pairs)
            order = torch.randperm(len(groups), generator=gen).tolist()
            n_val = int(len(groups) * hp["val_fraction"])
            val_groups = [groups[i] for i in order[:n_val]]
            train_groups = [groups[i] for i in order[n_val:]]
            # No held-out group (tiny data): the best epoch is judged on the training pairs.
            train_p, train_n = (torch.cat([pairs[g][j] for g in train_groups]) for j in (0, 1))
            val_p, val_n = ((torch.cat([pairs[g][j] for g in val_groups]) for j in (0, 1)) if val_groups
                            else (train_p, train_n))
            P, N = pos.to(device, torch.float32), neg.to(device, torch.float32)

            net = HPRNet(self.d, hp["angle_layers"]).to(device)
            opt = torch.optim.AdamW(net.parameters(), lr=hp["lr"], weight_decay=0.0)
            steps_per_epoch = n_batches(len(train_p), hp["batch_size"])
            total = steps_per_epoch * hp["epochs"]
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, linear_warmup_decay(total, math.ceil(hp["warmup_ratio"] * total)))
            bar = Progress(total, f"HPR fit (d={self.d}, {len(train_p)} pairs)")
            best_acc, best_state = -1.0, None
            self.history = []
            for epoch in range(hp["epochs"]):
                net.train()
                perm = torch.randperm(len(train_p), generator=gen)
                for b in range(steps_per_epoch):
                    idx = perm[b * hp["batch_size"]:(b + 1) * hp["batch_size"]]
                    loss = self._loss(net, P[train_p[idx].to(device)], N[train_n[idx].to(device)])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    bar.update(loss=loss.item())
                acc = self._probe_accuracy(net, P, N, val_p, val_n)
                self.history.append({"epoch": epoch + 1, "probe_accuracy": acc})
                if acc > best_acc:  # the first best epoch wins ties, as transformers' Trainer
                    best_acc, best_state = acc, copy.deepcopy(net.state_dict())
            bar.close()
            net.load_state_dict(best_state)
        self.state = prefixed_state("net", net)
        self._net = None

    @staticmethod
    def _loss(net: HPRNet, p: Tensor, n: Tensor) -> Tensor:
        x = torch.cat([p, n])
        label = torch.cat([torch.ones(len(p)), torch.zeros(len(n))]).to(x.device)
        # The angle from each row to its pair's positive (~0 for the positive itself).
        target = angle_between(x, torch.cat([p, p]))
        logit, angle = net(x)
        return F.binary_cross_entropy_with_logits(logit, label) + F.mse_loss(angle, target)

    @staticmethod
    @torch.no_grad()
    def _probe_accuracy(net: HPRNet, P: Tensor, N: Tensor, p_idx: Tensor, n_idx: Tensor) -> float:
        net.eval()
        dev = P.device
        pos_ok = (net(P[p_idx.unique().to(dev)])[0] > 0).float()
        neg_ok = (net(N[n_idx.unique().to(dev)])[0] <= 0).float()
        return float(torch.cat([pos_ok, neg_ok]).mean())

    # ----------------------------------------------------------------- steering
    def skeleton(self) -> HPRNet:
        if self._net is None:
            self._net = skeleton(lambda: HPRNet(self.d, self.hyperparams["angle_layers"]))
        return self._net

    def probe_logit(self, h: Tensor) -> Tensor:
        """w.a for rows of h [N, d] (the probe calls a row positive when >= 0)."""
        s = self._tensors(h.device, h.dtype)
        return h @ s["net.probe.weight"][0]

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        w = s["net.probe.weight"][0]
        negative = (x @ w) < 0
        if not bool(negative.any()):
            return x
        out = x.clone()
        rows = x[negative]
        theta = run_network(self.skeleton(), "net", s, rows)[1]
        out[negative] = rotate_towards_reflection(rows, w, T * theta)
        return out
