"""Benchmark tasks: download, format into seeded split files, fit texts and prompts.

See docs/architecture.md ("Tasks and data") for the split-file formats.
"""

from __future__ import annotations

from steerbench.tasks.base import Task
from steerbench.tasks.refusal import Refusal
from steerbench.tasks.toxicity import Toxicity
from steerbench.tasks.truthfulqa import TruthfulQA
from steerbench.tasks.ultrafeedback import UltraFeedback

_TASKS: dict[str, type[Task]] = {"truthfulqa": TruthfulQA, "ultrafeedback": UltraFeedback, "toxicity": Toxicity,
                                  "refusal": Refusal}


def register_task(cls: type[Task]) -> type[Task]:
    """Add a task class (usable as a decorator) from a module named under the config's
    `plugins:`; its `name` is the config key. A second class under one name is an error."""
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a task class needs a `name`")
    old = _TASKS.get(cls.name)
    if old is not None and old is not cls:
        raise ValueError(f"task {cls.name!r} is registered twice ({old.__module__}, {cls.__module__})")
    _TASKS[cls.name] = cls
    return cls


def available_tasks() -> list[str]:
    from steerbench.plugins import load_plugins

    load_plugins()
    return list(_TASKS)


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name raises listing the known ones."""
    if name not in _TASKS:
        available_tasks()  # a plugin's task is registered on import
    try:
        return _TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {available_tasks()}") from None


__all__ = ["Task", "available_tasks", "get_task", "register_task"]
