"""Checks of the keys the JSON schema leaves open: `tasks.<t>.generation` and
`methods.<id>.params`, and of layer indices against a local model's depth.

A typo there would otherwise pass validation and fail only in the generate or fit job,
after extraction, as a raw TypeError. The valid keys come from the code itself: the
keyword arguments of steerbench.lm.generate and each steerer's constructor signature.
Called by config_checks.check_config at parse time, so imports stay light.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Callable, Sequence

from steerbench.parse_facts import cached

# `tasks.<task>.generation.per_split`: {eval split: settings} on top of the task's own keys,
# e.g. a longer budget for refusal's GSM8K and MATH than for its safety sets.
PER_SPLIT = "per_split"
# generate()'s arguments that the generate stage sets itself: not config keys.
_GENERATE_SET_BY_STAGE = {"lm", "prompts", "steerer", "layer", "T", "batch_size", "seed"}


class ParamError(ValueError):
    """A config key that the code it is meant for does not take."""


def _where(config_files: Sequence[str] | None) -> str:
    files = list(config_files) if config_files else _calling_workflow_configfiles()
    return f" (in {', '.join(map(str, files))})" if files else ""


def _calling_workflow_configfiles() -> list[str]:
    # Called from a Snakefile, the `workflow` object there knows which files were loaded.
    for frame in inspect.stack()[2:]:
        wf = frame.frame.f_globals.get("workflow")
        files = getattr(wf, "configfiles", None)
        if files:
            return [str(f) for f in files]
    return []


def _keyword_names(fn: Callable) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def generation_keys() -> list[str]:
    """Keys valid under `tasks.<task>.generation`: generate()'s own keyword arguments."""
    def compute() -> list[str]:
        from steerbench.lm.generate import generate

        return [n for n in _keyword_names(generate) if n not in _GENERATE_SET_BY_STAGE]

    return cached("generation_keys", compute)


def steerer_param_keys(steerer: str) -> list[str]:
    """Keys valid under `methods.<id>.params` for `steerer`: its constructor's named
    arguments, following `**kwargs` up the class hierarchy to the base Steerer."""
    _check_known(steerer)
    return cached(f"steerer_params:{steerer}", lambda: _constructor_keys(steerer))


def steerer_requires(steerer: str) -> list[str]:
    """The fit tensors beyond pos / neg that `steerer` needs (Steerer.requires)."""
    _check_known(steerer)
    return cached(f"steerer_requires:{steerer}", lambda: list(_lookup_steerer(steerer).requires))


def steerer_rejects(steerer: str, params: dict) -> str | None:
    """Why `steerer`'s constructor rejects `params` (e.g. AlphaSteer's ratio outside (0, 1)), or None."""
    def compute() -> str | None:
        from steerbench.steerers import get_steerer

        try:
            get_steerer(steerer, **params)
        except (TypeError, ValueError) as e:
            return str(e)
        return None

    return cached(f"steerer_rejects:{steerer}:{json.dumps(params, sort_keys=True, default=str)}", compute)


def _check_known(steerer: str) -> None:
    """An unknown name raises here, naming the known steerers, before any cache key is made."""
    from steerbench.steerers import available_steerers

    if steerer not in available_steerers():
        _lookup_steerer(steerer)


def _lookup_steerer(steerer: str):
    from steerbench.steerers import _lookup

    return _lookup(steerer)


def _constructor_keys(steerer: str) -> list[str]:
    from steerbench.steerers.base import Steerer

    names: list[str] = []
    for cls in _lookup_steerer(steerer).__mro__:
        if cls is Steerer or cls is object:
            break
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))


def _unknown(given: dict, valid: list[str], key_path: str, config_files) -> None:
    bad = [k for k in given if k not in valid]
    if bad:
        raise ParamError(
            f"{key_path}.{bad[0]}: unknown key{_where(config_files)}; valid keys: "
            f"{', '.join(valid) or 'none (leave it empty)'}"
        )


def check_generation(config: dict, config_files: Sequence[str] | None = None) -> None:
    from steerbench.tasks import available_tasks, get_task

    valid = generation_keys()
    for task, spec in (config.get("tasks") or {}).items():
        gen = dict(spec.get("generation") or {})
        per_split = gen.pop(PER_SPLIT, None) or {}
        key = f"tasks.{task}.generation"
        _unknown(gen, [*valid, PER_SPLIT], key, config_files)
        if not isinstance(per_split, dict):
            raise ParamError(f"{key}.{PER_SPLIT}: expected a mapping of eval split -> settings{_where(config_files)}, "
                             f"got {per_split!r}")
        splits = [e for _, e in get_task(task).eval_plan] if task in available_tasks() else list(per_split)
        _unknown(per_split, splits, f"{key}.{PER_SPLIT}", config_files)
        for split, settings in per_split.items():
            if not isinstance(settings, dict):
                raise ParamError(f"{key}.{PER_SPLIT}.{split}: expected a mapping of settings{_where(config_files)}, "
                                 f"got {settings!r}")
            _unknown(settings, valid, f"{key}.{PER_SPLIT}.{split}", config_files)


def check_method_params(config: dict, config_files: Sequence[str] | None = None) -> None:
    from steerbench.steerers import available_steerers

    known = available_steerers()
    for method, spec in (config.get("methods") or {}).items():
        if spec.get("steerer") not in known:
            continue  # config_checks names unknown steerers
        _unknown(spec.get("params") or {}, steerer_param_keys(spec["steerer"]),
                 f"methods.{method}.params", config_files)


def model_depth(model_dir: str | Path) -> int | None:
    """Decoder layer count from a local model folder's config.json (None: not local yet)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    cfg = json.loads(path.read_text())
    for spec in (cfg, cfg.get("text_config") or {}):
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            if isinstance(spec.get(key), int):
                return spec[key]
    return None


def check_layers(config: dict, model_path: Callable[[str], str], config_files: Sequence[str] | None = None) -> None:
    """Layers beyond a local model's depth stop the run at start. Models not on disk yet
    (hub downloads, GGUF conversions) are checked by their first job instead."""
    for name, spec in (config.get("models") or {}).items():
        depth = model_depth(model_path(name))
        if depth is None:
            continue
        bad = [int(layer) for layer in spec.get("layers", []) if not 0 <= int(layer) < depth]
        if bad:
            raise ParamError(
                f"models.{name}.layers: layer {bad[0]} is out of range{_where(config_files)}; "
                f"{model_path(name)} has {depth} decoder layers (valid: 0..{depth - 1})"
            )


def check_params(config: dict, config_files: Sequence[str] | None = None,
                 model_path: Callable[[str], str] | None = None) -> None:
    """Everything above; `model_path` maps a `models` key to its folder (default:
    config_checks.model_ref_path)."""
    if model_path is None:
        from steerbench.config_checks import model_ref_path

        def model_path(name: str) -> str:
            return model_ref_path(config, name)

    missing_sections(config)
    check_generation(config, config_files)
    check_method_params(config, config_files)
    check_layers(config, model_path, config_files)


def missing_sections(config: dict, required: Sequence[str] = ("models", "tasks", "methods")) -> None:
    """A config without a required top-level section names it (not a raw KeyError)."""
    for key in required:
        if not config.get(key):
            raise ParamError(f"the config has no `{key}:` section{_where(None)}; add one (see config/config.yaml)")


def check_multilayer(config: dict, model_path: Callable[[str], str] | None = None,
                     config_files: Sequence[str] | None = None) -> None:
    """Multi-layer methods (`methods.<id>.layers`) and per-layer params ({layer: value}),
    and `tasks.<task>.models`: layers within every local model's depth, a per-layer value
    for exactly the steered layers, each layer's params accepted by the steerer's own
    constructor (e.g. AlphaSteer's ratio in (0, 1)), fit data the multi-layer fit gives."""
    from steerbench.steerers import available_steerers

    if model_path is None:
        from steerbench.config_checks import model_ref_path

        def model_path(name: str) -> str:
            return model_ref_path(config, name)

    models = config.get("models") or {}
    for task, spec in (config.get("tasks") or {}).items():
        bad = [m for m in (spec.get("models") or []) if m not in models]
        if bad:
            raise ParamError(f"tasks.{task}.models: {bad[0]!r} is not a configured model{_where(config_files)}; "
                             f"configured: {', '.join(models)}")
    known = available_steerers()
    for method, spec in (config.get("methods") or {}).items():
        if spec.get("steerer") not in known:
            continue
        layers = [int(x) for x in (spec.get("layers") or [])]
        params = spec.get("params") or {}
        per_layer = {k: v for k, v in params.items() if isinstance(v, dict)}
        where = f"methods.{method}"
        if per_layer and not layers:
            key = next(iter(per_layer))
            raise ParamError(f"{where}.params.{key}: a per-layer mapping needs {where}.layers{_where(config_files)}; "
                             f"give a single value, or list the steered layers")
        for key, mapping in per_layer.items():
            keys = sorted(int(k) for k in mapping)
            if keys != sorted(layers):
                raise ParamError(f"{where}.params.{key}: has values for layers {keys} but the method steers "
                                 f"{sorted(layers)}{_where(config_files)}; give one value per steered layer")
        if not layers:
            continue
        extra = [r for r in steerer_requires(spec["steerer"]) if r != "borderline"]
        if extra:
            raise ParamError(f"{where}.layers: steerer {spec['steerer']} needs fit data {extra} that multi-layer "
                             f"fitting does not give{_where(config_files)}; drop `layers`")
        from steerbench.stages.multilayer import params_for_layer

        for layer in layers:
            error = steerer_rejects(spec["steerer"], params_for_layer(params, layer))
            if error:
                raise ParamError(f"{where}.params (layer {layer}): {error}{_where(config_files)}")
        tasks = spec.get("tasks") or list(config.get("tasks") or {})
        run_models = {m for t in tasks if t in (config.get("tasks") or {})
                      for m in ((config["tasks"][t].get("models")) or models)}
        for name in sorted(run_models):
            depth = model_depth(model_path(name))
            if depth is None:
                continue
            out = [layer for layer in layers if not 0 <= layer < depth]
            if out:
                raise ParamError(f"{where}.layers: layer {out[0]} is out of range for model {name}{_where(config_files)}; "
                                 f"{model_path(name)} has {depth} decoder layers (valid: 0..{depth - 1})")
