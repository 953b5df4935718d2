"""RE-Control (Kong et al., NeurIPS 2024, arXiv 2406.05954; Lingkai-Kong/RE-Control).

A value network V (MLP d -> h -> h -> 1, ReLU, h = d by default) is trained on the hidden
states along responses the model generated, with the final reward of each response from
a reward model: consecutive states of a trajectory are pulled to the same value
(sum of (V(s_t) - V(s_t+1))^2) and the last state of each trajectory to its reward
(sum of (V(s_last) - r)^2), the sum divided by the number of trajectories in the batch.
Adam, lr 1e-3, 100 epochs, batches of 512 trajectories, as in their README/script.

Steering: gradient ascent on V, x <- x + T * step * grad V(x), `n_steps` times (their
README: step 1.0, 30 iterations). T scales the step size (T = 1: the official setting),
the iteration count stays fixed. The gradient is computed in closed form (the ReLU MLP's
backward pass written out), so steering needs no autograd and works inside
`torch.inference_mode`, as the LM runtime calls it.

Where: the official code moves the state after the model's final norm (logits only), at
every position of every forward pass; here the state is the configured decoder layer's
output (the layer the trajectories were collected at), and `positions = "all"`.

Extra fit data (`requires`), one row per state:
    traj_states  [N, d]  hidden state at one response position (layer output)
    traj_rewards [N]     final reward of the trajectory the state belongs to (repeated)
    traj_episode [N]     int64 trajectory index
    traj_step    [N]     int64 token position within the response (unique per trajectory)
`pos`/`neg` are not used by the method (the workflow still passes the task's activations).
"""

from __future__ import annotations


import torch
from torch import Tensor, nn

from steerbench.progress import Progress
from steerbench.steerers.base import Steerer
from steerbench.steerers.training import (
    check_groups,
    n_batches,
    prefixed_state,
    seeded_training,
    skeleton,
    TrainedNetwork,
    training_device,
)


class ValueNet(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x))))).squeeze(-1)


def value_and_grad(s: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """V(x) [N] and dV/dx [N, d] of the saved value network, by hand (no autograd)."""
    W1, b1, W2, b2 = s["value.fc1.weight"], s["value.fc1.bias"], s["value.fc2.weight"], s["value.fc2.bias"]
    w3, b3 = s["value.fc3.weight"][0], s["value.fc3.bias"][0]
    z1 = x @ W1.T + b1
    a1 = torch.relu(z1)
    z2 = a1 @ W2.T + b2
    a2 = torch.relu(z2)
    value = a2 @ w3 + b3
    g2 = (z2 > 0).to(x.dtype) * w3
    g1 = (z1 > 0).to(x.dtype) * (g2 @ W2)
    return value, g1 @ W1


def trajectory_layout(method: str, episode: Tensor, step: Tensor, rewards: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Rows ordered by (episode, step): (order, episode id per row, is-last flag, reward per episode)."""
    order = torch.argsort(episode * (int(step.max()) + 1) + step, stable=True)
    ep, st, rw = episode[order], step[order], rewards[order]
    same = ep[1:] == ep[:-1]
    if bool((same & (st[1:] == st[:-1])).any()):
        raise ValueError(f"{method}.fit: two states share an episode and a step; traj_step must be unique per trajectory")
    if bool((same & (rw[1:] != rw[:-1])).any()):
        raise ValueError(f"{method}.fit: traj_rewards differ within a trajectory; it must repeat the final reward")
    last = torch.ones(len(ep), dtype=torch.bool)
    last[:-1] = ~same
    return order, ep, last, rw[last]


class REControl(TrainedNetwork, Steerer):
    name = "RE-Control"
    network_prefix = "value"
    requires = ("traj_states", "traj_rewards", "traj_episode", "traj_step")
    positions = "all"

    def __init__(self, hidden: int | None = None, epochs: int = 100, batch_size: int = 512, lr: float = 1e-3,
                 step: float = 1.0, n_steps: int = 30, device: str = "auto") -> None:
        for key, v in (("epochs", epochs), ("batch_size", batch_size), ("n_steps", n_steps)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"RE-Control: {key} must be a positive int, got {v!r}")
        if hidden is not None and (not isinstance(hidden, int) or hidden < 1):
            raise ValueError(f"RE-Control: hidden must be a positive int or null (= d), got {hidden!r}")
        if not lr > 0 or not step > 0:
            raise ValueError(f"RE-Control: lr and step must be > 0 (got {lr}, {step})")
        training_device(device)
        super().__init__(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, step=step,
                         n_steps=n_steps, device=device)
        self.history: list[dict[str, float]] = []

    @property
    def width(self) -> int:
        return self.hyperparams["hidden"] or self.d

    # ------------------------------------------------------------------ fitting
    def _fit(self, pos: Tensor, neg: Tensor, traj_states: Tensor, traj_rewards: Tensor, traj_episode: Tensor,
             traj_step: Tensor) -> None:
        hp = self.hyperparams
        n = len(traj_states)
        if traj_states.ndim != 2 or traj_states.shape[1] != self.d or not traj_states.is_floating_point():
            raise ValueError(f"RE-Control.fit: traj_states must be float [N, {self.d}] (the layer of pos/neg), "
                             f"got {tuple(traj_states.shape)} {traj_states.dtype}")
        if n < 2:
            raise ValueError("RE-Control.fit: fewer than 2 trajectory states; generate more responses (rule "
                             "collect_trajectories)")
        if traj_rewards.shape != (n,) or not traj_rewards.is_floating_point():
            raise ValueError(f"RE-Control.fit: traj_rewards must be float [{n}], got {tuple(traj_rewards.shape)}")
        episode = check_groups(self.name, "traj_episode", traj_episode, n)
        step = check_groups(self.name, "traj_step", traj_step, n)
        order, ep, last, final_reward = trajectory_layout(self.name, episode, step, traj_rewards.float().cpu())
        # Episode index 0..E-1 per (sorted) row, and the row range of each episode.
        ep_index = torch.cumsum(torch.cat([torch.zeros(1, dtype=torch.long), last[:-1].long()]), 0)
        n_ep = int(ep_index[-1]) + 1
        starts = torch.cat([torch.zeros(1, dtype=torch.long), torch.nonzero(last).squeeze(-1)[:-1] + 1])
        ends = torch.nonzero(last).squeeze(-1) + 1

        device = training_device(hp["device"])
        with seeded_training(self.fit_seed, device) as gen:
            X = traj_states[order].to(device, torch.float32)
            R = final_reward.to(device)
            net = ValueNet(self.d, self.width).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=hp["lr"])
            per_epoch = n_batches(n_ep, hp["batch_size"])
            bar = Progress(per_epoch * hp["epochs"], f"RE-Control fit (d={self.d}, {n_ep} trajectories)")
            self.history = []
            for epoch in range(hp["epochs"]):
                perm = torch.randperm(n_ep, generator=gen)
                total = 0.0
                for b in range(per_epoch):
                    eps = perm[b * hp["batch_size"]:(b + 1) * hp["batch_size"]]
                    rows = torch.cat([torch.arange(int(starts[e]), int(ends[e])) for e in eps.tolist()])
                    is_last = last[rows].to(device)
                    v = net(X[rows.to(device)])
                    # Rows of one episode are contiguous and in step order: each non-last row's
                    # successor is the next row.
                    nxt = ~is_last
                    pairwise = ((v[:-1] - v[1:])[nxt[:-1]] ** 2).sum()
                    final = ((v[is_last] - R[ep_index[rows][last[rows]].to(device)]) ** 2).sum()
                    loss = (pairwise + final) / len(eps)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.item()
                    bar.update(loss=loss.item())
                self.history.append({"epoch": epoch + 1, "loss": total / per_epoch})
            bar.close()
        self.state = prefixed_state("value", net)

    # ----------------------------------------------------------------- steering
    def value(self, h: Tensor) -> Tensor:
        """V(h) for rows of h [N, d] (float32)."""
        return value_and_grad(self._tensors(h.device, torch.float32), h.float())[0]

    def skeleton(self) -> ValueNet:
        return skeleton(lambda: ValueNet(self.d, self.width))

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        lr = T * self.hyperparams["step"]
        for _ in range(self.hyperparams["n_steps"]):
            x = x + lr * value_and_grad(s, x)[1]
        return x
