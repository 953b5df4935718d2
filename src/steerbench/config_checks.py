"""Checks of the workflow config that a JSON schema cannot express, and model paths.

The schema catches typos in keys; this module catches unknown method, steerer and model
names and says which names are valid. It is imported by the Snakefile at parse time, so
it stays light (the steerer registry is imported lazily).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MODEL_SOURCES = ("hub", "path", "gguf_package")


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and what to do."""


def hub_slug(repo_id: str, revision: str | None = None) -> str:
    """Folder name of a hub model under resources/models/hub/ ("org/name" -> "org--name",
    "org--name@<revision>" for a pinned revision, so two revisions never share a folder)."""
    return repo_id.replace("/", "--") + (f"@{revision}" if revision else "")


RUN_NAME_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
DEFAULT_RUN = "demo"  # the embedded config/config.yaml, loaded when no --configfile is given


def run_name(config: dict, config_files: list[str] | tuple[str, ...] = ()) -> str:
    """The run's name, which names its results root `results/<run>/` and logs `logs/<run>/`:
    the `run:` key, else the stems of the --configfile files joined by "+" (so an overlay
    config gets its own root), else "demo"."""
    name = config.get("run") or "+".join(Path(f).stem for f in config_files) or DEFAULT_RUN
    if not RUN_NAME_CHARS.fullmatch(name):
        raise ConfigError(
            f"run name {name!r} (from {'the run: key' if config.get('run') else 'the config file name'}) "
            f"may hold only letters, digits and _ . + - and must start with a letter or digit; set `run:` in the config"
        )
    return name


def _steered_model_path(name: str, spec: dict) -> str:
    given = [k for k in MODEL_SOURCES if spec.get(k)]
    if len(given) != 1:
        raise ConfigError(
            f"models.{name}: give exactly one of {', '.join(MODEL_SOURCES)} (got {given or 'none'})"
        )
    if "path" in given:
        return spec["path"]
    if "hub" in given:
        return f"resources/models/hub/{hub_slug(spec['hub'], spec.get('revision'))}"
    # Keyed by the package, not the config's model name: the same name in two configs may
    # mean two packages, and one package converted once serves every config.
    return f"resources/models/gguf/{spec['gguf_package']}"


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
            return f"resources/models/hub/{hub_slug(ref['hub'], ref.get('revision'))}"
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
    for task in config.get("tasks", {}).values():
        if task.get("ppl_model") is not None:
            refs.append(task["ppl_model"])  # the official RTP prompt filter's LM
    out = {}
    for ref in refs:
        if isinstance(ref, str) and ref in config.get("models", {}):
            continue
        if isinstance(ref, str) and ref.count("/") == 1 and not _is_local_path(ref):
            ref = {"hub": ref}
        if isinstance(ref, dict) and ref.get("hub"):
            out[hub_slug(ref["hub"], ref.get("revision"))] = {"repo_id": ref["hub"], "revision": ref.get("revision")}
    return out


def config_schema(schema_path: str | Path) -> dict:
    """The workflow's JSON schema with the registered tasks and scorers filled in: the
    task names, the scorer names and each scorer's settings come from their specs; the
    reference method's default is the library's."""
    import yaml

    from steerbench.metrics import DEFAULT_REFERENCE
    from steerbench.scoring.registry import scorers
    from steerbench.tasks import available_tasks

    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["properties"]["reference"]["default"] = DEFAULT_REFERENCE
    known = scorers()
    schema["properties"]["tasks"]["propertyNames"] = {"enum": available_tasks()}
    schema["$defs"]["task"]["properties"]["scorers"]["items"] = {"enum": list(known)}
    schema["properties"]["scorers"]["properties"] = {
        name: {"type": "object", "additionalProperties": False, "properties": spec.settings}
        for name, spec in known.items()
    }
    return schema


def _error_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate_config(config: dict, schema_path: str | Path, config_files: list[str] | tuple[str, ...] = ()) -> None:
    """Validate `config` against the schema, filling in its defaults; a violation raises
    ConfigError in one line: the key, the problem and the config file."""
    from jsonschema import Draft202012Validator, validators

    schema = config_schema(schema_path)
    base = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, prop in properties.items():
                if "default" in prop:
                    instance.setdefault(key, prop["default"])
        yield from base(validator, properties, instance, subschema)

    Validator = validators.extend(Draft202012Validator, {"properties": set_defaults})
    errors = list(Validator(schema).iter_errors(config))
    if errors:
        where = f" (in {', '.join(map(str, config_files))})" if config_files else ""
        # The shallowest error; at one depth an unknown key first, since a typo in a key
        # also makes the key it misspells "missing".
        rank = {"additionalProperties": 0, "required": 1}
        err = min(errors, key=lambda e: (len(e.absolute_path), rank.get(e.validator, 2)))
        message = err.message
        if err.validator == "required":
            message = f"missing required key {message.split()[0]}"
        elif err.validator == "enum":
            message = f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
        elif err.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown key")
        raise ConfigError(f"config key {_error_path(err)}: {message}{where}")


def scorer_settings(config: dict, scorer: str) -> dict:
    """`scorers.<scorer>` with the spec's defaults filled in (a config without the block gets the defaults)."""
    from steerbench.scoring.registry import get_scorer

    return {**get_scorer(scorer).defaults(), **config.get("scorers", {}).get(scorer, {})}


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
        unknown = [t for t in (spec.get("tasks") or []) if t not in config["tasks"]]
        if unknown:
            raise ConfigError(f"methods.{method}.tasks: {unknown} are not configured tasks; "
                              f"configured: {', '.join(config['tasks'])}")
        if spec["steerer"] == "NoSteer" and any(float(t) != 0 for t in spec["T"]):
            raise ConfigError(f"methods.{method}: NoSteer takes only T: [0]")
    for name, spec in config["models"].items():
        _steered_model_path(name, spec)
    from steerbench.scoring.registry import get_scorer
    from steerbench.tasks import get_task

    used = {s for task in config["tasks"].values() for s in task["scorers"]}
    scorers = config.get("scorers", {})
    for scorer in sorted(used):
        spec = get_scorer(scorer)
        for key in spec.model_keys:
            ref = scorers.get(scorer, {}).get(key)
            if ref is None:
                if spec.default_model is not None:
                    continue
                raise ConfigError(
                    f"scorer {scorer!r} is used by a task but scorers.{scorer}.{key} is not set: "
                    f"name a key of `models`, a hub id or a local path"
                )
            model_ref_path(config, ref)
    for task, spec in config["tasks"].items():
        kind = get_task(task).kind
        for scorer in spec["scorers"]:
            if not get_scorer(scorer).applies_to(task, kind):
                allowed = ", ".join(get_scorer(scorer).tasks)
                raise ConfigError(f"tasks.{task}.scorers: {scorer!r} only works for tasks of kind or name {allowed}")
        if all(not m.headline for s in spec["scorers"] for m in get_scorer(s).table_metrics):
            fits = [name for name, sc in _registered().items()
                    if sc.tasks is not None and sc.applies_to(task, kind) and any(m.headline for m in sc.table_metrics)]
            raise ConfigError(
                f"tasks.{task}.scorers: only quality metrics; add an alignment scorer "
                f"(e.g. {', '.join(fits) or 'toxicity_open'})"
            )
    reference = config.get("reference", "NoSteer")
    if "reward" in used and reference not in config["methods"]:
        raise ConfigError(f"the reward scorer's win-rate needs the reference method {reference!r} in `methods`")
    from steerbench.param_checks import check_multilayer

    check_multilayer(config)  # methods.<id>.layers, per-layer params, tasks.<task>.models
    for task, spec in config["tasks"].items():
        t = get_task(task)
        if hasattr(t, "check_source"):  # a task that can check its source block before any job
            try:
                t.check_source(spec.get("source"))
            except ValueError as e:
                raise ConfigError(str(e)) from None


def _registered():
    from steerbench.scoring.registry import scorers

    return scorers()
