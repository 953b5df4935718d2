"""Checks of the workflow config that a JSON schema cannot express, and model paths.

The schema catches typos in keys; this module catches unknown method, steerer and model
names and says which names are valid. It is imported by the Snakefile at parse time, so
it stays light (the steerer registry is imported lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL_SOURCES = ("hub", "path", "gguf_package")


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and what to do."""


def hub_slug(repo_id: str) -> str:
    """Folder name of a hub model under resources/models/hub/ ("org/name" -> "org--name")."""
    return repo_id.replace("/", "--")


def _steered_model_path(name: str, spec: dict) -> str:
    given = [k for k in MODEL_SOURCES if spec.get(k)]
    if len(given) != 1:
        raise ConfigError(
            f"models.{name}: give exactly one of {', '.join(MODEL_SOURCES)} (got {given or 'none'})"
        )
    if "path" in given:
        return spec["path"]
    if "hub" in given:
        return f"resources/models/hub/{hub_slug(spec['hub'])}"
    return f"resources/models/gguf/{name}"


def _is_local_path(ref: str) -> bool:
    return Path(ref).exists() or ref.startswith(("/", ".", "~"))


def model_ref_path(config: dict, ref: Any) -> str:
    """Local folder the workflow reads a model from.

    `ref` is a key of `models`, a hub id ("org/name"), a local path, or a dict with
    `hub` / `path`. Hub models are fetched by the `download_model` rule first.
    """
    models = config.get("models", {})
    if isinstance(ref, str) and ref in models:
        return _steered_model_path(ref, models[ref])
    if isinstance(ref, dict):
        if ref.get("path"):
            return ref["path"]
        if ref.get("hub"):
            return f"resources/models/hub/{hub_slug(ref['hub'])}"
        raise ConfigError(f"model reference {ref!r}: give `hub:` or `path:`")
    if isinstance(ref, str):
        if _is_local_path(ref):
            return ref
        if ref.count("/") == 1:
            return f"resources/models/hub/{hub_slug(ref)}"
    raise ConfigError(
        f"model reference {ref!r} is neither a key of `models` ({', '.join(models) or 'none'}), "
        f"an existing local folder, nor a hub id like 'org/name'"
    )


def hub_models(config: dict) -> dict[str, dict]:
    """slug -> {"repo_id", "revision"} for every hub model the config uses."""
    refs: list[Any] = []
    for spec in config.get("models", {}).values():
        if spec.get("hub"):
            refs.append({"hub": spec["hub"], "revision": spec.get("revision")})
    for scorer in config.get("scorers", {}).values():
        for key in ("model", "truth_model", "info_model"):
            if key in scorer:
                refs.append(scorer[key])
    out = {}
    for ref in refs:
        if isinstance(ref, str) and ref in config.get("models", {}):
            continue
        if isinstance(ref, str) and ref.count("/") == 1 and not _is_local_path(ref):
            ref = {"hub": ref}
        if isinstance(ref, dict) and ref.get("hub"):
            out[hub_slug(ref["hub"])] = {"repo_id": ref["hub"], "revision": ref.get("revision")}
    return out


# Scorers that need a model in their config block, and the keys that name it.
_SCORER_MODEL_KEYS = {"quality": ["model"], "judge": ["truth_model", "info_model"], "reward": ["model"]}


# Scorers that need task-specific references.
_SCORER_TASKS = {"mc": ("truthfulqa",), "judge": ("truthfulqa",), "similarity": ("truthfulqa", "ultrafeedback")}


def check_config(config: dict) -> None:
    """Raise ConfigError naming the first unknown name in `config`."""
    from steerbench.steerers import available_steerers

    from steerbench.param_checks import check_params

    check_params(config)  # sections, generation keys, steerer params, layers vs local models
    known = available_steerers()
    for method, spec in config["methods"].items():
        if spec["steerer"] not in known:
            raise ConfigError(
                f"methods.{method}.steerer: unknown steerer {spec['steerer']!r}; "
                f"known steerers: {', '.join(known)}"
            )
        if spec["steerer"] == "NoSteer" and any(float(t) != 0 for t in spec["T"]):
            raise ConfigError(f"methods.{method}: NoSteer takes only T: [0]")
    for name, spec in config["models"].items():
        _steered_model_path(name, spec)
    used = {s for task in config["tasks"].values() for s in task["scorers"]}
    scorers = config.get("scorers", {})
    for scorer in sorted(used):
        for key in _SCORER_MODEL_KEYS.get(scorer, []):
            ref = scorers.get(scorer, {}).get(key)
            if ref is None:
                raise ConfigError(
                    f"scorer {scorer!r} is used by a task but scorers.{scorer}.{key} is not set: "
                    f"name a key of `models`, a hub id or a local path"
                )
            model_ref_path(config, ref)
    for task, spec in config["tasks"].items():
        for scorer in spec["scorers"]:
            allowed = _SCORER_TASKS.get(scorer)
            if allowed and task not in allowed:
                raise ConfigError(f"tasks.{task}.scorers: {scorer!r} only works for {', '.join(allowed)}")
        if set(spec["scorers"]) <= {"quality"}:
            raise ConfigError(
                f"tasks.{task}.scorers: only quality metrics; add an alignment scorer "
                f"(e.g. {', '.join(s for s, t in _SCORER_TASKS.items() if task in t) or 'toxicity_open'})"
            )
    if "reward" in used and "NoSteer" not in config["methods"]:
        raise ConfigError("the reward scorer's win-rate needs a method `NoSteer` in `methods`")
