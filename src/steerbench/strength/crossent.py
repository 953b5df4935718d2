"""Delta cross-entropy on held-out text against alpha.

As in the paper's code: each document is tokenised without special tokens, EOS is
appended, and windows of 129 tokens (128 predictions) are cut with stride 128 inside the
document (documents shorter than a window are skipped; no padding). All alphas of a chunk
ride in one forward: rows = windows x alphas.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from steerbench.lm.batching import check_batch_size, input_device
from steerbench.lm.model import LM
from steerbench.progress import Progress
from steerbench.strength.hook import alpha_steering


def heldout_windows(tokenizer, documents: Sequence[str], seq_len: int = 128, stride: int = 128, max_windows: int | None = None) -> torch.Tensor:
    """[N, seq_len + 1] token windows from the documents, in corpus order."""
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be positive, got {seq_len}, {stride}")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token; the held-out windows append one per document")
    width = seq_len + 1
    windows: list[list[int]] = []
    for doc in documents:
        ids = tokenizer(doc, add_special_tokens=False)["input_ids"] + [int(eos)]
        for i in range(0, len(ids) - width + 1, stride):
            windows.append(ids[i : i + width])
            if max_windows is not None and len(windows) >= max_windows:
                return torch.tensor(windows, dtype=torch.long)
    if not windows:
        raise ValueError(f"no document of the held-out corpus is at least {width} tokens long; give longer documents")
    return torch.tensor(windows, dtype=torch.long)


def nll_per_alpha(lm: LM, windows: torch.Tensor, layer: int, steerer, alphas: Sequence[float], batch_size: int = 64) -> dict[float, dict]:
    """Per alpha: {"nll": summed negative log-likelihood (float64), "tokens": predictions scored}."""
    check_batch_size(batch_size)
    device = input_device(lm.model)
    per_window = max(1, batch_size // max(1, len(alphas)))  # windows per forward
    per_alpha = max(1, batch_size // per_window)             # alphas per forward
    total = torch.zeros(len(alphas), dtype=torch.float64)
    # One progress step per forward pass: (window blocks) x (alpha chunks).
    steps = -(-len(windows) // per_window) * -(-len(alphas) // per_alpha)
    with torch.inference_mode(), Progress(steps, f"crossent L{layer}", unit="batch") as bar:
        for w0 in range(0, len(windows), per_window):
            block = windows[w0 : w0 + per_window].to(device)
            inputs, labels = block[:, :-1], block[:, 1:]
            B, S = inputs.shape
            for a0 in range(0, len(alphas), per_alpha):
                chunk = torch.tensor(list(alphas[a0 : a0 + per_alpha]), dtype=torch.float32)
                rows = chunk.repeat_interleave(B)  # alpha-major: rows [a*B:(a+1)*B] share one alpha
                ids = inputs.repeat(len(chunk), 1)
                with alpha_steering(lm.layer(layer), steerer, rows):
                    logits = lm.model(input_ids=ids, use_cache=False).logits.to(torch.float32)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.repeat(len(chunk), 1).reshape(-1), reduction="none")
                total[a0 : a0 + len(chunk)] += loss.reshape(len(chunk), B * S).sum(1).double().cpu()
                bar.update(1)
    tokens = int(windows.shape[0] * (windows.shape[1] - 1))
    return {a: {"nll": float(total[i]), "tokens": tokens} for i, a in enumerate(alphas)}


def delta_ce(points: dict[float, dict]) -> dict[float, float]:
    """CE(alpha) - CE(0), CE = mean NLL per predicted token."""
    if 0.0 not in points:
        raise ValueError("Delta CE needs alpha 0 in the grid")
    base = points[0.0]["nll"] / points[0.0]["tokens"]
    return {a: p["nll"] / p["tokens"] - base for a, p in points.items()}
