"""The Python API: ``nas.search``, ``nas.resume`` and ``nas.load_run``.

The same settings as ``nas search`` (the fields of :class:`~nas.config.SearchConfig`), checked by
the same code (:func:`nas.app.launch.run_search`), so a bad setting raises the same
:class:`~nas.errors.NasError` the CLI prints as ``nas: error: ...``::

    import nas

    run = nas.search(space="nb201", strategy="evolution", budget=6, epochs=1, runs_dir="runs")
    run.trials_dataframe()          # pandas, one row per trial (like Optuna's study.trials_dataframe())
    run.best(3)                     # the three best ok trials, best first
    run.architecture("t00002")      # a trial's Architecture
    run.export(top=1)               # runs/NAME/best/1-tXXXXX/ (arch.yaml, model.py, weights.pt, ...)
    nas.load_run("runs/NAME")       # any run directory, finished or still running, read-only

A :class:`Run` reads the run directory (``run.yaml`` and the journal ``trials.jsonl``) each time
it is asked, takes no lock and writes nothing except through :meth:`Run.export` and
:meth:`Run.report`, so it can watch a search another process is running.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from nas.arch import Architecture
from nas.config import SearchConfig
from nas.errors import ConfigError


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where rich renders a live widget."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def default_progress() -> Any:
    """A notebook-friendly live bar in Jupyter, else what ``nas search`` shows (rich on a terminal,
    one line per trial otherwise)."""
    from nas.app.progress import RichProgress, make_progress

    return RichProgress() if _in_notebook() else make_progress()


class Run:
    """A run directory opened read-only: its config, trials, best architectures and exports.

    ``summary`` is the :class:`~nas.app.summary.SearchSummary` when this object came from
    :func:`search` or :func:`resume` in this process, else ``None``.
    """

    def __init__(self, path: str | Path, summary: Any = None) -> None:
        from nas.app.rundir import read_run_yaml

        self.path = Path(path)
        read_run_yaml(self.path)  # a clear error for a directory that is not a run
        self.summary = summary

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- what is on disk --------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The resolved settings of the run (``run.yaml``'s ``config``)."""
        from nas.app.rundir import read_run_yaml

        return dict(read_run_yaml(self.path)["config"])

    def trials(self) -> list[dict[str, Any]]:
        """The journal records (``trials.jsonl``) in finishing order, as plain dicts."""
        from nas.app.rundir import TRIALS, read_records

        return read_records(self.path / TRIALS)

    def status(self) -> dict[str, Any]:
        """What ``nas status --json`` prints: progress, whether a driver runs, the top 5."""
        from nas.app.cli.status import collect

        return collect(self.path, top=5)

    # -- results ----------------------------------------------------------------------------------
    def best(self, k: int = 1) -> list[dict[str, Any]]:
        """The ``k`` best ok trials by the run's objective, best first.

        Each item is the journal record plus ``score`` (the objective's ranking score), ``key`` (the
        key of the architecture the trial stands for) and ``architecture`` (an :class:`Architecture`).
        """
        from nas.app.export import rank_trials
        from nas.types import trial_arch, trial_key

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"best(k): k must be an integer >= 1, got {k!r}")
        _, ranked = rank_trials(self.path)
        return [dict(rec, score=score, key=trial_key(rec), architecture=trial_arch(rec))
                for score, rec in ranked[:k]]

    def architecture(self, trial_id: str) -> Architecture:
        """The architecture trial ``trial_id`` stands for (a one-shot trial's: the one it derived)."""
        from nas.types import trial_arch

        for rec in self.trials():
            if str(rec.get("id")) == str(trial_id):
                arch = trial_arch(rec, where=f"{self.path}: trial {trial_id}")
                if arch is None:
                    raise ConfigError(f"{self.path}: trial {trial_id!r} has no architecture")
                return arch
        raise ConfigError(f"{self.path}: no trial {trial_id!r} in the journal")

    def trials_dataframe(self) -> Any:
        """One row per finished trial, in journal order (a :class:`pandas.DataFrame`); the columns
        are those of :func:`nas.app.runview.trials_dataframe` (after Optuna's ``study.trials_dataframe()``)."""
        from nas.app.runview import trials_dataframe

        return trials_dataframe(self.path)

    # -- outputs ----------------------------------------------------------------------------------
    def export(self, top: int = 1, formats: str | Sequence[str] | None = None,
               out: str | Path | None = None) -> list[Path]:
        """``nas export``: the ``top`` best trials to ``RUN/best/<rank>-<trial>/`` (or ``out``)."""
        from nas.app.export import FORMATS, export_top

        return export_top(self.path, top=top, formats=FORMATS if formats is None else formats, out=out)

    def report(self, out: str | Path | None = None) -> Path:
        """``nas report``: write the self-contained HTML report (default ``RUN/report.html``)."""
        from nas.app.report import write_report

        return write_report(self.path, out)


def _settings(space: str | None, strategy: str | None, config: Mapping[str, Any] | str | Path | None,
              settings: Mapping[str, Any]) -> dict[str, Any]:
    """The SearchConfig fields given: ``config`` (a mapping or a YAML file, as ``--config``), then
    ``space``/``strategy`` and keyword settings (they win; option mappings merge)."""
    out: dict[str, Any] = {}
    if config is not None:
        out.update(SearchConfig.load(config) if isinstance(config, (str, Path)) else dict(config))
    for name, value in (("space", space), ("strategy", strategy)):
        if value is not None:
            out[name] = value
    for k, v in settings.items():
        if k.endswith("_options") and isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            v = {**out[k], **v}
        out[k] = v
    return out


def search(space: str | None = None, strategy: str | None = None, *,
           config: Mapping[str, Any] | str | Path | None = None, progress: Any = True,
           evaluator_instance: Any = None, **settings: Any) -> Run:
    """Run a search and return its :class:`Run` (``nas search`` in Python).

    ``settings`` are :class:`~nas.config.SearchConfig` fields (``budget=10, epochs=2,
    strategy_options={"population": 20}, runs_dir=..., name=...``); ``config`` is a mapping or a
    YAML file of them (keywords win). ``progress``: True (a live bar in Jupyter, the ``nas
    search`` display elsewhere), False, or a :class:`nas.app.driver.Progress`.
    ``evaluator_instance``: an :class:`~evaluators.base.Evaluator` object to use instead of the one
    the ``evaluator`` setting names (not shut down here). Bad settings raise
    :class:`~nas.errors.ConfigError` (and the other :class:`~nas.errors.NasError` subclasses) before
    anything is written. Like ``nas search``, the run ends with the best trial in ``RUN/best/`` and
    ``RUN/report.html``.
    """
    from nas.app.launch import run_search

    fields = _settings(space, strategy, config, settings)
    summary = run_search(SearchConfig.from_dict(fields, where="nas.search()"), evaluator=evaluator_instance,
                         progress=default_progress() if progress is True else progress)
    return _finished(summary, summary.run_dir, progress)


def _finished(summary: Any, path: str | Path, progress: Any) -> Run:
    """The end of a search, as ``nas search`` does it: ``best/`` and ``report.html``
    (:func:`nas.app.launch.finish_run`); skipped artifacts and warnings go to stderr unless
    ``progress`` is off."""
    from nas.app.launch import finish_run

    done = finish_run(summary)
    if progress:
        for line in [f"nas: warning: {w}" for w in done.warnings] + [f"note: {n}" for n in done.notes]:
            sys.stderr.write(line + "\n")
    return Run(path, summary)


def resume(path: str | Path, *, force: bool = False, progress: Any = True, evaluator_instance: Any = None,
           **settings: Any) -> Run:
    """Continue the run at ``path`` (``nas search --resume``) and return its :class:`Run`.

    ``settings`` override the stored ones under the resume rules of
    :func:`nas.app.launch.resume_config`: budgets, evaluator, device and data location may change;
    anything that would change the search needs ``force=True``.
    """
    from nas.app.launch import run_search

    summary = run_search(_settings(None, None, None, settings), resume=path, force=force,
                         evaluator=evaluator_instance,
                         progress=default_progress() if progress is True else progress)
    return _finished(summary, summary.run_dir if summary.run_dir is not None else path, progress)


def load_run(path: str | Path) -> Run:
    """Open the run directory ``path`` read-only (finished, stopped or still running)."""
    return Run(path)


__all__ = ["Run", "default_progress", "load_run", "resume", "search"]
