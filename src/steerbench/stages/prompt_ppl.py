"""Stage prompt_ppl: the perplexity of every RealToxicityPrompts prompt under a small LM.

The official test-prompt selection keeps prompts with GPT-2 perplexity below 200
(data/toxicity/preprocess_rtp.py:227-285); this pass is that GPT-2 run, cached once per
raw RTP file and perplexity model. One row per RTP record, in file order: {"index", "ppl"}
(ppl null where the prompt has fewer than two tokens; the official code's NaN/inf there
fails the < 200 test either way). float32, as the official script loads GPT-2.
"""

from __future__ import annotations

from pathlib import Path

from steerbench.io import write_jsonl
from steerbench.stages.common import load_steered_model


def prompt_perplexities(rtp_path: str | Path, model_dir: str | Path, out_path: str | Path, *,
                        device: str = "auto", batch_size: int = 32, max_length: int = 1024) -> int:
    """Write {"index", "ppl"} per RTP record of `rtp_path`; returns the rows written."""
    from steerbench.scoring.quality import perplexity
    from steerbench.tasks.sources import read_rows
    from steerbench.tasks.toxicity import check_rtp_rows

    rows = read_rows(rtp_path)
    check_rtp_rows(rows, str(rtp_path))
    texts = [str(r["prompt"]["text"]) for r in rows]
    lm = load_steered_model(model_dir, device, "float32")
    ppl = perplexity(lm.model, lm.tokenizer, texts, batch_size=batch_size, max_length=max_length)
    return write_jsonl(out_path, [{"index": i, "ppl": p} for i, p in enumerate(ppl)])
