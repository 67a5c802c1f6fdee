"""From a :class:`~nas.config.SearchConfig` to a running :class:`~nas.app.driver.Search`.

:func:`run_search` resolves the space, objective, strategy and evaluator through the
registries, validates all of them (including the evaluator's eager dataset ``check()``)
**before** anything is created on disk, then creates or resumes the run directory and runs
the driver. Any bad input raises a :class:`~nas.errors.NasError` (CLI exit 2) and leaves no
run directory behind.

Resuming (:func:`resume_config`) applies the same rules for the CLI and API callers: option
mappings merge into the stored ones, and a new evaluator drops the stored evaluator options.
"""
from __future__ import annotations

import copy
import datetime as _dt
import importlib.util
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import nas.objectives  # noqa: F401  (registers the objectives)
from nas.config import RESUME_MUTABLE, SearchConfig
from nas.errors import ConfigError
from nas.registry import EVALUATORS, OBJECTIVES, SPACES, STRATEGIES, load_plugins
from nas.app.rundir import RUN_YAML, RunDir, check_new, read_run_yaml
from nas.app.driver import Search, SearchSummary

#: evaluator options only the Ray evaluator takes (``nas search`` flags of the same names)
RAY_ONLY_OPTIONS = frozenset({"address", "gpus_per_trial", "cpus_per_trial", "storage"})


def choose_evaluator(config: SearchConfig) -> str:
    """The evaluator for ``evaluator: auto`` (issue 5); keep that decision here only.

    ``"ray"`` (a private local Ray instance unless an address is given) when a cluster address
    is configured (``--address`` or ``RAY_ADDRESS``), when Ray-only options are set
    (``--gpus-per-trial``, ``--cpus-per-trial``, ``--storage``), or when more than one GPU is
    visible, ``device`` is ``auto`` or ``cuda`` and Ray is installed; otherwise ``"local"``: on
    a CPU-only machine Ray's start-up (~3 s, ~650 MB) buys nothing. GPUs are counted only when
    it matters, with ``torch.cuda.device_count()`` (NVML, no CUDA context).
    """
    if config.evaluator != "auto":
        return config.evaluator
    options = config.evaluator_options or {}
    if options.get("address") or os.environ.get("RAY_ADDRESS"):
        return "ray"
    if RAY_ONLY_OPTIONS & set(options):
        return "ray"
    if config.device not in ("auto", "cuda"):  # cpu, or one chosen GPU (cuda:N)
        return "local"
    if importlib.util.find_spec("ray") is None:  # Ray is an optional extra (nas[ray])
        return "local"
    import torch

    return "ray" if torch.cuda.device_count() > 1 else "local"


def default_run_name(config: SearchConfig) -> str:
    """``SPACE-STRATEGY-YYYYmmdd-HHMMSS``, with ``-2``, ``-3``, ... if that exists in ``runs_dir``
    (two searches started in the same second)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = name = f"{config.space}-{config.strategy}-{stamp}"
    n = 1
    while (Path(config.runs_dir) / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


@dataclass
class Components:
    space: Any
    objective: Any
    strategy: Any
    evaluator: Any
    owns_evaluator: bool


def build_components(config: SearchConfig, run_path: Path | None, evaluator: Any = None) -> Components:
    """Create space, objective, strategy and evaluator; raise NasError on any bad name/option/data."""
    load_plugins()
    space = SPACES.create(config.space)
    objective = OBJECTIVES.create(config.objective, **config.objective_options)
    options = dict(config.strategy_options)
    if run_path is not None and "storage" not in options and "storage" in inspect.signature(
            STRATEGIES.get(config.strategy)).parameters:  # e.g. tpe: its Optuna study lives in the run dir
        options["storage"] = str(Path(run_path) / "optuna.journal")
    strategy = STRATEGIES.create(config.strategy, space, seed=config.seed, objective=objective, **options)
    owns = evaluator is None
    if owns:
        evaluator = EVALUATORS.create(choose_evaluator(config), space, config, run_dir=run_path)
        try:
            check = getattr(evaluator, "check", None)
            if check is not None:
                check()
        except BaseException:
            evaluator.shutdown()
            raise
    return Components(space, objective, strategy, evaluator, owns)


def config_overrides(config: SearchConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields ``config`` sets: a mapping as given; a full :class:`SearchConfig` only the fields
    that differ from the defaults (so setting a field back to its default needs a mapping)."""
    if config is None:
        return {}
    if isinstance(config, SearchConfig):
        defaults = SearchConfig().to_dict()
        return {k: v for k, v in config.to_dict().items() if v != defaults[k]}
    return dict(config)


def resume_config(path: str | Path, overrides: Mapping[str, Any] | None = None,
                  force: bool = False) -> tuple[SearchConfig, dict[str, tuple[Any, Any]]]:
    """The stored config of the run at ``path`` with ``overrides`` applied.

    ``strategy_options`` and ``evaluator_options`` merge into the stored options (e.g. a new
    ``address`` keeps a stored ``gpus_per_trial``), except that a different ``evaluator``
    drops the stored evaluator options (they belong to the old evaluator; the override's, if
    any, are used as given). Fields outside :data:`nas.config.RESUME_MUTABLE` may change only
    with ``force``. Returns the config and ``{field: (old, new)}`` of what changed.
    """
    stored = read_run_yaml(path)["config"]
    cfg = SearchConfig.from_dict(stored, where=str(Path(path) / RUN_YAML))
    base = cfg.to_dict()
    overrides = dict(overrides or {})
    if "strategy_options" in overrides:
        overrides["strategy_options"] = _merged(base["strategy_options"], overrides["strategy_options"])
    if overrides.get("evaluator", base["evaluator"]) != base["evaluator"]:
        overrides.setdefault("evaluator_options", {})  # the stored ones belong to the old evaluator
    elif "evaluator_options" in overrides:
        overrides["evaluator_options"] = _merged(base["evaluator_options"], overrides["evaluator_options"])
    changed = {k: (base.get(k), v) for k, v in overrides.items() if base.get(k) != v}
    frozen = sorted(k for k in changed if k not in RESUME_MUTABLE)
    if frozen and not force:
        k = frozen[0]
        raise ConfigError(
            f"{Path(path) / RUN_YAML}: field {k!r} is {changed[k][0]!r}; resuming with {k}={changed[k][1]!r} "
            "would change the search (pass --force to do it anyway)"
        )
    cfg.update({k: v for k, (_, v) in changed.items()}, where="resume")
    return cfg, changed


def _merged(stored: dict[str, Any], given: Any) -> Any:
    """Stored options updated by the given ones (a non-mapping is left for ``SearchConfig.update`` to refuse)."""
    return {**stored, **given} if isinstance(given, Mapping) else given


def _release(parts: Components | None, run: RunDir | None) -> None:
    """Shut down an evaluator we created, then release the run's lock (even if the shutdown fails)."""
    try:
        if parts is not None and parts.owns_evaluator:
            parts.evaluator.shutdown()
    finally:
        if run is not None:
            run.close()


def run_search(
    config: SearchConfig | Mapping[str, Any] | None = None,
    *,
    resume: str | Path | None = None,
    force: bool = False,
    evaluator: Any = None,
    progress: Any = True,
) -> SearchSummary:
    """Run a search end to end and return its :class:`SearchSummary`.

    * fresh: ``config`` is a :class:`SearchConfig` (not modified) or a mapping of fields; the run
      goes to ``runs_dir/name`` (``name`` defaults to ``SPACE-STRATEGY-YYYYmmdd-HHMMSS``).
    * ``resume=RUN_DIR``: ``config`` (a mapping of fields, or a full config whose non-default
      fields count, see :func:`config_overrides`) overrides the stored ``run.yaml``; see
      :func:`resume_config`.
    * ``evaluator``: an evaluator instance to use instead of creating one (not shut down here).
    * ``progress``: True (rich live display on a TTY, one line per trial otherwise),
      False/None, or a :class:`nas.app.driver.Progress` object.
    """
    parts: Components | None = None
    if resume is not None:
        path = Path(resume)
        cfg, changed = resume_config(path, config_overrides(config), force)
        run = RunDir.open(path)
        try:
            parts = build_components(cfg, path, evaluator)
            if changed:
                run.update_config(cfg.to_dict(), changed)
        except BaseException:
            _release(parts, run)
            raise
    else:
        if isinstance(config, SearchConfig):
            cfg = copy.deepcopy(config)  # the caller's config stays as it is (name, option dicts)
            cfg.check()
        else:
            cfg = SearchConfig.from_dict(config or {})
        if cfg.name is None:
            cfg.name = default_run_name(cfg)
        path = check_new(Path(cfg.runs_dir) / cfg.name)  # before the (slow) evaluator is built
        parts = build_components(cfg, path, evaluator)
        try:
            run = RunDir.create(path, cfg.to_dict())
        except BaseException:
            _release(parts, None)
            raise
    try:
        if progress is True:
            from nas.app.progress import make_progress

            progress = make_progress()
        search = Search(cfg, parts.space, parts.strategy, parts.evaluator, run=run, progress=progress or None)
        return search.run()
    finally:
        _release(parts, run)
