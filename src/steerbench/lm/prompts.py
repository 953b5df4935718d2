"""How a task's question and answer become model text (no model needed here).

PromptFormatter (steerbench.lm.model) renders a question for one model and prompt format;
these helpers build on any such formatter.
"""

from __future__ import annotations

from typing import Callable

# fmt(user_text) -> model input; `Task.prompts` may also pass system="instruction" (see
# steerbench.lm.format_prompt for how each prompt format renders it).
Formatter = Callable[..., str]


def fit_text(fmt: Formatter, question: str, answer: str) -> str:
    """The text whose last token gives a fit activation: the whole exchange where the
    formatter writes one (chat form: fmt.exchange, closing the assistant turn), else the
    prompt followed by the answer ("Q: ...\\nA: answer")."""
    exchange = getattr(fmt, "exchange", None)
    text = exchange(question, answer) if exchange is not None else None
    if text is None:
        prefix = fmt(question)
        text = prefix + answer_after(prefix, answer)
    return text


def answer_after(prompt_text: str, answer: str) -> str:
    """The answer as the model would write it after `prompt_text`: "Q: ...\\nA:" takes a
    space before it; a chat prompt ending in a newline ("<|im_start|>assistant\\n") does not,
    so a fit text or a scored choice matches what generation produces."""
    return answer if not prompt_text or prompt_text[-1].isspace() else " " + answer
