"""Stages of the strength analysis: the workflow's scripts call these, one per rule.

Every per-layer measurement reads the concept vectors, builds the steerer whose T plays
alpha, fills its per-alpha cache (computing only alphas not cached yet) and writes a CSV
with one row per alpha (per token, for the curves). Alphas are also given in units of
the layer's mean activation norm (alpha / norm), and, for constant-vector steerers, as the
size of the added vector relative to that norm (alpha * ||v|| / norm).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from steerbench.io import atomic_path, write_json
from steerbench.stages.common import load_steered_model
from steerbench.strength.cache import AlphaCache, fingerprint
from steerbench.strength.grid import normalise_alphas
from steerbench.strength.hook import direction
from steerbench.strength.loaders import load_heldout, load_mmlu, load_prompts
from steerbench.strength.steerer import concept_steerer
from steerbench.strength.vectors import ConceptVectors, concept_vectors

log = logging.getLogger(__name__)


def _write_csv(df: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _model(model_dir, device: str, dtype: str):
    return load_steered_model(model_dir, device=device, dtype=dtype)


def strength_vectors(model_dir, positive, negative, layers: Sequence[int], out, *, limit: int | None = None,
                     batch_size: int = 16, device: str = "auto", dtype: str = "float32") -> None:
    """v_l, the token-mean features and the mean activation norm of every layer, in one file."""
    pos, neg = load_prompts(positive, limit), load_prompts(negative, limit)
    lm = _model(model_dir, device, dtype)
    concept_vectors(lm, pos, neg, layers, batch_size).save(out)


def strength_logodds(model_dir, positive, negative, out, *, top: int = 50, limit: int | None = None,
                     batch_size: int = 16, device: str = "auto", dtype: str = "float32") -> None:
    from steerbench.strength.logodds import log_odds_table, token_log_odds

    lm = _model(model_dir, device, dtype)
    m = token_log_odds(lm, load_prompts(positive, limit), load_prompts(negative, limit), batch_size)
    _write_csv(pd.DataFrame(log_odds_table(m, lm.tokenizer, top)), out)


class _Setup:
    """What every per-layer measurement shares: the model, the steerer, the alpha scales."""

    def __init__(self, model_dir, vectors_path, layer: int, steerer: dict, alphas, seed: int, device: str, dtype: str) -> None:
        self.cv = ConceptVectors.load(vectors_path)
        self.layer = int(layer)
        self.alphas = normalise_alphas(alphas)
        self.steerer = concept_steerer(self.cv, self.layer, steerer.get("steerer", "CAA"), steerer.get("params") or {}, seed)
        self.lm = _model(model_dir, device, dtype)
        v = direction(self.steerer)
        self.norm = self.cv.mean_norm[self.layer]
        self.v_norm = float(v.norm()) if v is not None else float("nan")
        # Everything a cached number depends on besides alpha and the measurement's own options.
        self.settings = {"model": str(model_dir), "layer": self.layer, "steerer": steerer, "seed": seed, "dtype": dtype,
                         "features": [self.cv.pos[self.layer], self.cv.neg[self.layer]]}

    def scales(self, alpha: float) -> dict:
        return {"alpha": alpha, "alpha_over_norm": alpha / self.norm, "shift_over_norm": alpha * self.v_norm / self.norm,
                "layer": self.layer, "mean_norm": self.norm, "vector_norm": self.v_norm}

    def cache(self, path, **options) -> AlphaCache:
        return AlphaCache(path, {**self.settings, **options})


def strength_curves(model_dir, vectors, contexts, layer: int, steerer: dict, alphas, cache, out, *, keep: int = 1000,
                    top: int = 10, batch_size: int = 64, seed: int = 0, device: str = "auto", dtype: str = "float32") -> None:
    """Delta p(z, alpha) of the top tokens at the largest and smallest alpha, per context."""
    from steerbench.strength.curves import curve_points, delta_p_table

    s = _Setup(model_dir, vectors, layer, steerer, alphas, seed, device, dtype)
    texts = load_prompts(contexts)
    c = s.cache(cache, measurement="curves", contexts=texts, keep=keep)
    points = c.fill(s.alphas, lambda todo: curve_points(s.lm, texts, s.layer, s.steerer, todo, keep, batch_size))
    rows = [{**s.scales(r["alpha"]), **r, "context_text": texts[r["context"]]} for r in delta_p_table(points, s.lm.tokenizer, top)]
    _write_csv(pd.DataFrame(rows), out)


def strength_crossent(model_dir, vectors, heldout, layer: int, steerer: dict, alphas, cache, out, *, seq_len: int = 128,
                      stride: int = 128, max_windows: int | None = None, batch_size: int = 64, seed: int = 0,
                      device: str = "auto", dtype: str = "float32") -> None:
    """Cross-entropy and Delta CE (vs alpha 0) per alpha on the held-out windows."""
    from steerbench.strength.crossent import delta_ce, heldout_windows, nll_per_alpha

    docs = load_heldout(heldout)
    s = _Setup(model_dir, vectors, layer, steerer, alphas, seed, device, dtype)
    windows = heldout_windows(s.lm.tokenizer, docs, seq_len, stride, max_windows)
    c = s.cache(cache, measurement="crossent", windows=fingerprint(windows.tolist()))
    points = c.fill(s.alphas, lambda todo: nll_per_alpha(s.lm, windows, s.layer, s.steerer, todo, batch_size))
    deltas = delta_ce(points)
    rows = [{**s.scales(a), "cross_entropy": p["nll"] / p["tokens"], "delta_ce": deltas[a], "tokens": p["tokens"],
             "windows": int(windows.shape[0])} for a, p in points.items()]
    _write_csv(pd.DataFrame(rows), out)


def strength_mmlu(model_dir, vectors, mmlu, layer: int, steerer: dict, alphas, cache, out, *, subjects=None, split: str = "test",
                  limit: int | None = None, n_shots: int = 5, scoring: str = "generation", chat: bool = False,
                  batch_size: int = 16, seed: int = 0, device: str = "auto", dtype: str = "float32") -> None:
    """MMLU accuracy per alpha (scoring "generation" as the paper's code, or "loglik")."""
    from steerbench.strength.mmlu import SCORINGS, accuracy_points, build_prompts, mmlu_predictions

    if scoring not in SCORINGS:
        raise ValueError(f"strength.mmlu.scoring {scoring!r} is not one of {', '.join(SCORINGS)}")
    questions = load_mmlu(mmlu, subjects, split, limit)
    dev = load_mmlu(mmlu, sorted({q.subject for q in questions}), "dev") if n_shots else []
    s = _Setup(model_dir, vectors, layer, steerer, alphas, seed, device, dtype)
    prompts = build_prompts(s.lm, questions, dev, n_shots, chat)
    c = s.cache(cache, measurement="mmlu", prompts=prompts, answers=[q.answer for q in questions], scoring=scoring)
    points = c.fill(s.alphas, lambda todo: accuracy_points(questions, mmlu_predictions(s.lm, prompts, s.layer, s.steerer, todo, scoring, batch_size)))
    rows = [{**s.scales(a), "accuracy": p["correct"] / p["n"], "correct": p["correct"], "n": p["n"], "scoring": scoring,
             "chance": 0.25, "answer_A_share": sum(x == "A" for x in p["pred"]) / p["n"]} for a, p in points.items()]
    _write_csv(pd.DataFrame(rows), out)


def strength_presence(model_dir, judge_dir, vectors, contexts, concept: str, layer: int, steerer: dict, alphas, cache, out,
                      fit_out, *, max_new_tokens: int = 32, batch_size: int = 16, seed: int = 0, device: str = "auto",
                      dtype: str = "float32") -> None:
    """The judge's concept presence per alpha on texts generated under steering, and its sigmoid fit."""
    from steerbench.strength.presence import fit_sigmoid, judge_presence, steered_texts

    s = _Setup(model_dir, vectors, layer, steerer, alphas, seed, device, dtype)
    texts = load_prompts(contexts)
    judge = s.lm if Path(judge_dir).resolve() == Path(model_dir).resolve() else _model(judge_dir, device, dtype)

    def compute(todo):
        generated = steered_texts(s.lm, texts, s.layer, s.steerer, todo, max_new_tokens, batch_size)
        return {a: {"texts": g, "presence": judge_presence(judge, g, concept, batch_size)} for a, g in generated.items()}

    c = s.cache(cache, measurement="presence", contexts=texts, concept=concept, judge=str(judge_dir), max_new_tokens=max_new_tokens)
    points = c.fill(s.alphas, compute)
    rows = [{**s.scales(a), "presence": sum(p["presence"]) / len(p["presence"]), "example": p["texts"][0]} for a, p in points.items()]
    df = pd.DataFrame(rows)
    _write_csv(df, out)
    fit = fit_sigmoid(df["alpha"].tolist(), df["presence"].tolist())
    if fit.get("ok"):
        fit["midpoint_over_norm"] = fit["midpoint"] / s.norm
    write_json(fit_out, {"layer": s.layer, "concept": concept, "judge": str(judge_dir), **fit})


def strength_plots(out_dir, *, curves: Sequence = (), crossent: Sequence = (), mmlu: Sequence = (), presence: Sequence = (),
                   fits: Sequence = (), logodds=None, title: str = "") -> None:
    from steerbench.strength.plots import write_strength_plots

    def read(paths):
        return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()

    import json

    write_strength_plots(Path(out_dir), curves=read(curves), crossent=read(crossent), mmlu=read(mmlu), presence=read(presence),
                         fits=[json.loads(Path(p).read_text()) for p in fits], title=title)
