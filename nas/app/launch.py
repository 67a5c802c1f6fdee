"""From a :class:`~nas.config.SearchConfig` to a running :class:`~nas.app.driver.Search`.

:func:`assemble` is the one function that puts a search together: it resolves the space,
objective, strategy and evaluator through the registries and validates all of them (including
the evaluator's eager ``check()`` of data and cluster) **before** anything is created on disk.
``nas search``, :func:`run_search` (the Python API), ``nas bench`` (:mod:`nas.app.bench`) and the
Ray Tune adapter (:mod:`nas.app.tune`) all use it. :func:`run_search` then creates or resumes the
run directory and runs the driver. Any bad input raises a :class:`~nas.errors.NasError` (CLI exit 2) and leaves no
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from evaluators.base import Evaluator
from nas.config import RESUME_MUTABLE, SearchConfig, create_space
from nas.errors import ConfigError
from nas.limits import check_writable_dir
from nas.objectives import Objective
from nas.registry import EVALUATORS, OBJECTIVES, STRATEGIES
from nas.app import warm_start
from nas.app.rundir import RUN_YAML, RunDir, check_new, read_run_yaml
from nas.app.driver import Search
from nas.app.summary import SearchSummary
from search_spaces.base import SearchSpace
from strategies.base import Strategy

#: evaluator options only the Ray evaluator takes (``nas search`` flags of the same names)
RAY_ONLY_OPTIONS = frozenset({"address", "gpus_per_trial", "cpus_per_trial", "storage"})


def choose_evaluator(config: SearchConfig) -> str:
    """The evaluator for ``evaluator: auto``; keep that decision here only.

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
    """What :func:`assemble` returns: the parts of one search, checked and ready to run."""

    space: SearchSpace
    objective: Objective
    strategy: Strategy
    evaluator: Evaluator | None
    owns_evaluator: bool

    def release(self) -> None:
        """Shut the evaluator down if :func:`assemble` created it (idempotent)."""
        if self.owns_evaluator and self.evaluator is not None:
            self.evaluator.shutdown()


def make_space(config: SearchConfig) -> SearchSpace:
    """The search space ``config.space`` names: the one place a search creates its space.

    :func:`nas.config.create_space` also pins the config to the space (its registered name, and
    the definition of a space defined by data, e.g. a space file), so run.yaml recreates it anywhere.
    """
    return create_space(config)


def strategy_options(config: SearchConfig, run_path: Path | None) -> dict[str, Any]:
    """``config.strategy_options``, plus ``storage`` in the run directory for a strategy that keeps
    its own files and takes a ``storage`` option (e.g. tpe's Optuna journal)."""
    options = dict(config.strategy_options)
    if run_path is not None and "storage" not in options and "storage" in inspect.signature(
            STRATEGIES.get(config.strategy)).parameters:
        options["storage"] = str(Path(run_path) / "optuna.journal")
    return options


def assemble(config: SearchConfig, run_path: Path | None = None, evaluator: Evaluator | None = None, *,
             space: SearchSpace | None = None, with_evaluator: bool = True) -> Components:
    """Create and check the space, objective, strategy and evaluator of a search.

    The one function that puts a search together, used by ``nas search`` and
    :func:`run_search`, ``nas bench`` (:mod:`nas.app.bench`) and the Ray Tune adapter
    (:mod:`nas.app.tune`). Everything is resolved through the registries; any bad name, option,
    dataset or cluster raises a :class:`~nas.errors.NasError` before anything is written.

    * ``run_path``: the run directory the evaluator and strategy may write to (``None``: in memory).
    * ``evaluator``: an evaluator instance to use as given (not checked, not shut down by
      :meth:`Components.release`); otherwise the one :func:`choose_evaluator` picks is created
      with the contract's constructor and its eager :meth:`~evaluators.base.Evaluator.check` runs.
    * ``space``: a space instance to use instead of creating ``config.space`` (``nas bench``
      keeps one per process so that its validation memo carries over between runs).
    * ``with_evaluator=False``: no evaluator (the Tune adapter, whose trials Tune runs).
    """
    space = make_space(config) if space is None else space
    objective = OBJECTIVES.create(config.objective, **config.objective_options)
    strategy = STRATEGIES.create(config.strategy, space, seed=config.seed, objective=objective,
                                 **strategy_options(config, run_path))
    owns = evaluator is None and with_evaluator
    name = choose_evaluator(config) if owns else None
    if config.warm_start is not None:  # checked before an evaluator starts: nothing to shut down
        warm_start.check_warm_start(config, strategy, EVALUATORS.get(name) if name is not None else evaluator)
    if name is not None:
        evaluator = EVALUATORS.create(name, space, config, run_dir=run_path)
        if not isinstance(evaluator, Evaluator):
            raise ConfigError(f"evaluator {name!r} does not implement the contract of evaluators.base.Evaluator")
        try:
            evaluator.check()
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
        if parts is not None:
            parts.release()
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
    record: dict[str, Any] | None = None  # a new run's warm-start pre-screen (nas.app.warm_start)
    elapsed0 = 0.0
    if resume is not None:
        path = Path(resume)
        cfg, changed = resume_config(path, config_overrides(config), force)
        run = RunDir.open(path)
        try:
            if "warm_start" in changed and run.load_snapshot() is not None:
                raise ConfigError(f"{path}: the warm start seeded the strategy when this run started; it cannot "
                                  "change on resume, even with --force (start a new run instead)")
            parts = assemble(cfg, path, evaluator)
            if changed:
                run.update_config(cfg.to_dict(), changed)
            elapsed0 = warm_start.for_resume(cfg, parts.space, parts.strategy, path, run.load_snapshot() is not None)
        except BaseException:
            _release(parts, run)
            raise
    else:
        if isinstance(config, SearchConfig):
            cfg = copy.deepcopy(config)  # the caller's config stays as it is (name, option dicts)
            cfg.check()
        else:
            cfg = SearchConfig.from_dict(config or {})
        check_writable_dir(cfg.runs_dir, "--runs-dir")  # before any work; creates nothing
        space = make_space(cfg)  # pins cfg.space to a registered name before it names the run
        if cfg.name is None:
            cfg.name = default_run_name(cfg)
        path = check_new(check_writable_dir(Path(cfg.runs_dir) / cfg.name, "--runs-dir/--name"))
        parts = assemble(cfg, path, evaluator, space=space)
        try:  # the pre-screen runs before the run directory exists: bad data or a crash leaves nothing
            record = None if cfg.warm_start is None else warm_start.compute(cfg, parts.space)
            run = RunDir.create(path, cfg.to_dict())
        except BaseException:
            _release(parts, None)
            raise
    try:
        if record is not None:
            elapsed0 = warm_start.start(record, parts.strategy, run.path)
            if progress:
                print(warm_start.describe(record), flush=True)
        if progress is True:
            from nas.app.progress import make_progress

            progress = make_progress()
        search = Search(cfg, parts.space, parts.strategy, parts.evaluator, run=run, progress=progress or None,
                        elapsed=elapsed0)
        return search.run()
    finally:
        _release(parts, run)


@dataclass
class Finish:
    """What :func:`finish_run` made: the exported best trial, the report, and every artifact skipped
    (each note says which and the one command that adds it) or that failed."""

    exported: Path | None = None
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def finish_run(summary: SearchSummary) -> Finish:
    """The end of a search (``nas search`` and :func:`nas.search`): export the best trial to
    ``RUN/best/`` (:func:`nas.app.export.export_top`) and write ``RUN/report.html``
    (:mod:`nas.app.report`). Neither changes the search's outcome: a failure is a warning."""
    from nas.app.export import export_top
    from nas.app.report import write_report
    from nas.app.rundir import BEST

    out = Finish()
    run_dir = summary.run_dir
    if run_dir is None:
        return out
    if summary.best is not None:
        try:
            export_top(run_dir, top=1, on_note=out.notes.append)
            out.exported = Path(run_dir) / BEST
        except Exception as e:  # noqa: BLE001 - the search itself succeeded
            out.warnings.append(f"export of the best trial failed: {' '.join(str(e).split())}")
    try:
        out.report = write_report(run_dir)
    except Exception as e:  # noqa: BLE001 - e.g. matplotlib missing, a drawing too large
        out.warnings.append(f"report.html not written: {' '.join(str(e).split())}")
    return out
