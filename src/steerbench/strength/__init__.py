"""Steering-strength analysis ("Towards Understanding Steering Strength", Taimeskhanov,
Vaiter, Garreau 2026): per-layer mean-difference vectors, many strengths per forward pass,
and what strength does to next-token probabilities, held-out cross-entropy, MMLU,
token log-odds and a judge's concept presence. One concern per module:

  grid       the alpha grid and its cache keys
  hook       the alpha-batched steering hook (one alpha per batch row)
  vectors    per-layer token-mean features, v_l and the mean activation norm
  loaders    MMLU, held-out corpus and concept prompt sets (HF canonical or local files)
  curves     next-token probability curves
  crossent   Delta cross-entropy on held-out text
  mmlu       5-shot MMLU accuracy (generation or log-likelihood scoring)
  logodds    unsteered token log-odds M(z)
  presence   concept presence by a judge, and its sigmoid fit
  cache      per-(measurement, model, concept, layer, steerer) results per alpha
  plots      the figures
"""
