"""``nas compare``: a leaderboard of found architectures, literature genotypes and baselines.

Every model is trained under one recipe (:data:`evaluators.trainer.RECIPES`, as ``nas train``)
for each of the same seeds, on the same train/val/test split. Each (model, seed) pair is one
trial of an ordinary run directory under ``runs/``: :class:`CompareStrategy` proposes the fixed
list, the driver (:class:`nas.app.driver.Search`) journals the results, and any evaluator of
the Evaluator contract (local, or Ray for a cluster) runs them through the ``compare`` trial
runner (:func:`run_compare_trial`, registered in :data:`nas.registry.TRIALS`). So the run is
crash-safe and resumable like a search: ``nas compare --resume RUN_DIR`` re-runs only the trials
that had not finished (from their last epoch checkpoint).

What is compared is stored in ``compare.yaml`` (``format: nas/compare@1``): models (``name``,
``kind`` found / literature / baseline, and the architecture or baseline name), seeds, recipe
and overrides. At the end :func:`write_report` writes ``leaderboard.md``, ``leaderboard.csv``
(name, kind, params, MACs, CPU latency, test accuracy mean and std over seeds, train time) and
``leaderboard.png`` (test accuracy against MACs and against params, the Pareto front drawn and
the found architectures highlighted) into the run directory. The command a search's card and
``nas status`` suggest is :func:`nas.app.export_card.compare_command`.
"""
from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from nas.errors import ConfigError
from nas.io import atomic_write_text, read_yaml_doc
from nas.types import Proposal, Result
from strategies.base import Strategy

COMPARE_FORMAT = "nas/compare@1"
COMPARE_YAML = "compare.yaml"
#: the :data:`nas.registry.TRIALS` name of :func:`run_compare_trial`
COMPARE_RUNNER = "compare"
KINDS = ("found", "literature", "baseline")


# -- what to compare -----------------------------------------------------------------------------------
def model_entry(text: str) -> dict[str, Any]:
    """A model given on the command line: a baseline, a zoo name (literature) or an architecture (found)."""
    from nas.app.train_run import resolve_target
    from nas.zoo import list_genotypes

    target = resolve_target(text)
    if target.kind == "baseline":
        return {"name": target.name, "kind": "baseline", "baseline": target.name}
    assert target.arch is not None
    kind = "literature" if str(text).strip().lower() in set(list_genotypes()) else "found"
    return {"name": target.name, "kind": kind, "arch": target.arch.to_dict()}


def best_of_run(run: str | Path, k: int) -> list[dict[str, Any]]:
    """The best ``k`` ok trials of run ``run`` (by its objective's score, as ``nas status``) as found models."""
    from nas.app.rundir import read_records, validate_run
    from nas.layout import safe_name

    path = Path(run)
    validate_run(path)
    ok = [r for r in read_records(path / "trials.jsonl") if r.get("status") == "ok"
          and (r.get("result_arch") or r.get("arch")) is not None]
    if not ok:
        raise ConfigError(f"{path}: no finished trial with an architecture to compare")
    ok.sort(key=lambda r: -float((r.get("metrics") or {}).get("val_acc") or 0.0))
    return [{"name": safe_name(f"{path.name}-{r['id']}"), "kind": "found", "arch": r.get("result_arch") or r["arch"],
             "source": f"{path}:{r['id']}"} for r in ok[:k]]


class CompareStrategy(Strategy):
    """Proposes every (model, seed) pair of the comparison once, in order, then is done."""

    name = "compare"
    trial_runner = COMPARE_RUNNER

    def __init__(self, space: Any, spec: Mapping[str, Any], *, seed: int = 0, objective: Any = None) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.items = [(m, int(s)) for m in spec["models"] for s in spec["seeds"]]
        self.recipe, self.overrides = str(spec["recipe"]), dict(spec.get("overrides") or {})

    def ask(self) -> Proposal | None:
        if self.n_asked >= len(self.items):
            return None
        model, seed = self.items[self.n_asked]
        pid = self.new_id()
        config = {"model": model, "seed": seed, "recipe": self.recipe, "overrides": self.overrides}
        return Proposal(pid, None, config=config, runner=COMPARE_RUNNER,
                        info={"origin": self.name, "model": model["name"], "kind": model["kind"], "seed": seed})

    def tell(self, proposal_id: str, result: Result) -> None:
        return None  # a fixed list: results change nothing

    def done(self) -> bool:
        return self.n_asked >= len(self.items)


# -- the trial runner -------------------------------------------------------------------------------------
def run_compare_trial(space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
                      checkpoint_dir: str | Path | None = None, weights_path: str | Path | None = None) -> Result:
    """The ``compare`` trial runner: train ``proposal.config["model"]`` with its seed and recipe, as
    ``nas train`` does, then measure test accuracy once. Same signature as
    :func:`evaluators.candidate.evaluate_candidate`; checkpoints every epoch to
    ``checkpoint_dir/<id>.pt`` so that a re-run continues where it stopped. ``space`` is unused
    (every architecture is built by its own space)."""
    import torch

    from evaluators.candidate import TrialRecord, checkpoint_path, input_shape, latency_ms, save_weights, size_metrics
    from evaluators.trainer import evaluate, train
    from nas.app.train_run import Target, build_target, make_recipe
    from nas.arch import Architecture
    from nas.errors import as_machine_fault, is_machine_fault

    device = torch.device(device)
    trial = TrialRecord(device, config, None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, proposal.id))
    c = dict(proposal.config)
    model_spec, info = dict(c["model"]), data.info
    try:
        recipe, _ = make_recipe(str(c["recipe"]), dict(c.get("overrides") or {}), info)
        if model_spec["kind"] == "baseline":
            target = Target("baseline", str(model_spec["baseline"]))
        else:
            from nas.zoo import validate

            target = Target("arch", str(model_spec["name"]), validate(Architecture.from_dict(model_spec["arch"])))
        model, _, _ = build_target(target, info, recipe, seed=int(c["seed"]), channels=None, layers=None)
        shape = input_shape(info)
        size = size_metrics(model, shape)
    except Exception as e:  # noqa: BLE001 - a model that cannot be built fails its trial, not the run
        if is_machine_fault(e):
            raise as_machine_fault(e) from e
        return trial.done("failed", f"build failed: {type(e).__name__}: {e}")
    try:
        outcome = train(model, data, recipe, device=device, seed=int(c["seed"]), deadline=trial.deadline,
                        checkpoint=trial.checkpoint, discard_stale=True)
        trial.resumed_from = outcome.resumed_from
        test_acc = evaluate(model, data.test, device=device, batch_size=max(256, recipe.batch_size),
                            amp=recipe.amp, channels_last=recipe.channels_last)
        latency = latency_ms(model, shape)
    except Exception as e:  # noqa: BLE001
        return trial.failure(e, dict(size))
    if weights_path is not None:
        save_weights(model, weights_path)
    return trial.done("ok", None, {"val_acc": outcome.final_val_acc, "test_acc": test_acc, **size,
                                   "latency_ms": latency, "train_seconds": outcome.train_seconds,
                                   "epochs": outcome.epochs})


# -- the run --------------------------------------------------------------------------------------------------
def read_spec(path: str | Path) -> dict[str, Any]:
    """The ``compare.yaml`` of a comparison run (ConfigError if missing or malformed)."""
    p = Path(path) / COMPARE_YAML
    if not p.is_file():
        raise ConfigError(f"{path}: not a comparison run (no {COMPARE_YAML})")
    doc = read_yaml_doc(p, COMPARE_FORMAT, "compare")
    spec = doc.get("compare")
    if not isinstance(spec, dict) or not isinstance(spec.get("models"), list) or not spec.get("seeds"):
        raise ConfigError(f"{p}: field 'compare' must hold 'models' and 'seeds'")
    return spec


def run_compare(spec: Mapping[str, Any] | None, config: Mapping[str, Any], *, resume: str | Path | None = None,
                progress: Any = None) -> Path:
    """Create (or, with ``resume``, continue) a comparison run and train what is left; returns its path.

    ``spec``: ``models`` (from :func:`model_entry` / :func:`best_of_run`), ``seeds``, ``recipe`` and
    ``overrides``. ``config``: :class:`~nas.config.SearchConfig` fields for where and how it runs
    (dataset, data_dir, download, device, evaluator, evaluator_options, max_concurrent,
    trial_timeout, runs_dir, name, seed = the data split).
    """
    import datetime as _dt

    from nas.app.driver import Search
    from nas.app.launch import choose_evaluator, make_space, resume_config
    from nas.app.rundir import RunDir, check_new
    from nas.config import SearchConfig
    from nas.limits import check_writable_dir
    from nas.registry import EVALUATORS, OBJECTIVES, load_plugins

    load_plugins()
    if resume is not None:
        path = Path(resume)
        spec = read_spec(path)
        cfg, changed = resume_config(path, dict(config))
        run = RunDir.open(path)
        if changed:
            run.update_config(cfg.to_dict(), changed)
    else:
        assert spec is not None
        if not spec["models"]:
            raise ConfigError("nothing to compare: give models (baselines, zoo names, YAML files) or --run")
        cfg = SearchConfig.from_dict({"strategy": COMPARE_RUNNER, "keep_weights": 0,
                                      "budget": len(spec["models"]) * len(spec["seeds"]), **config})
        check_writable_dir(cfg.runs_dir, "--runs-dir")
        if cfg.name is None:
            cfg.name = "compare-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = check_new(check_writable_dir(Path(cfg.runs_dir) / cfg.name, "--runs-dir/--name"))
        run = None
    space = make_space(cfg)
    evaluator = EVALUATORS.create(choose_evaluator(cfg), space, cfg, run_dir=path)
    try:
        evaluator.check()
        if run is None:
            run = RunDir.create(path, cfg.to_dict())
            atomic_write_text(path / COMPARE_YAML, yaml.safe_dump({"format": COMPARE_FORMAT, "compare": dict(spec)},
                                                                  sort_keys=False))
        strategy = CompareStrategy(space, spec, seed=cfg.seed, objective=OBJECTIVES.create("accuracy"))
        Search(cfg, space, strategy, evaluator, run=run, progress=progress).run()
        write_report(path, run.read_trials(), spec)
    finally:
        evaluator.shutdown()
        if run is not None:
            run.close()
    return path


# -- the leaderboard ------------------------------------------------------------------------------------------
def leaderboard(records: Iterable[Mapping[str, Any]], spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model (in ``spec`` order) aggregated over its ok trials' seeds."""
    by_model: dict[str, list[Mapping[str, Any]]] = {m["name"]: [] for m in spec["models"]}
    for rec in records:
        name = (rec.get("info") or {}).get("model")
        if rec.get("status") == "ok" and name in by_model:
            by_model[name].append(rec.get("metrics") or {})
    rows = []
    for m in spec["models"]:
        runs = by_model[m["name"]]
        acc = [float(r["test_acc"]) for r in runs if r.get("test_acc") is not None]

        def mean(key: str) -> float | None:
            vals = [float(r[key]) for r in runs if r.get(key) is not None]
            return statistics.fmean(vals) if vals else None

        rows.append({"name": m["name"], "kind": m["kind"], "params": mean("params"), "macs": mean("macs"),
                     "latency_ms": mean("latency_ms"), "test_acc_mean": statistics.fmean(acc) if acc else None,
                     "test_acc_std": statistics.stdev(acc) if len(acc) > 1 else (0.0 if acc else None),
                     "seeds": len(acc), "train_seconds": mean("train_seconds")})
    rows.sort(key=lambda r: -(r["test_acc_mean"] if r["test_acc_mean"] is not None else -1.0))
    return rows


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (cost no higher and accuracy no lower, one strictly)."""
    front = []
    for i, (c, a) in enumerate(points):
        if not any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for c2, a2 in points):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def write_report(path: str | Path, records: Iterable[Mapping[str, Any]], spec: Mapping[str, Any]) -> list[dict]:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.png`` into ``path``; returns the rows."""
    path = Path(path)
    rows = leaderboard(records, spec)
    fields = ["name", "kind", "params", "macs", "latency_ms", "test_acc_mean", "test_acc_std", "seeds",
              "train_seconds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in fields})
    atomic_write_text(path / "leaderboard.csv", buf.getvalue())
    lines = ["| model | kind | params | MACs | CPU latency (ms) | test acc (%) | seeds | train time (s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = "failed" if r["test_acc_mean"] is None else f"{r['test_acc_mean']:.2f} ± {r['test_acc_std']:.2f}"
        lines.append(f"| {r['name']} | {r['kind']} | {_fmt(r['params'], ',.0f')} | {_fmt(r['macs'], ',.0f')} | "
                     f"{_fmt(r['latency_ms'], '.2f')} | {acc} | {r['seeds']} | {_fmt(r['train_seconds'], '.1f')} |")
    atomic_write_text(path / "leaderboard.md", "\n".join(lines) + "\n")
    _plot(path / "leaderboard.png", [r for r in rows if r["test_acc_mean"] is not None and r["macs"] is not None])
    return rows


def _plot(out: Path, rows: list[dict[str, Any]]) -> None:
    """Test accuracy against MACs and against params, Pareto fronts drawn, found models highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas.io import atomic_write_bytes

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    style = {"found": dict(marker="*", s=180, c="tab:red", zorder=3), "literature": dict(marker="D", s=50, c="tab:green"),
             "baseline": dict(marker="o", s=45, c="tab:blue")}
    for ax, key, label in ((axes[0], "macs", "MACs per image"), (axes[1], "params", "parameters")):
        pts = [(float(r[key]), float(r["test_acc_mean"])) for r in rows]
        for kind in KINDS:
            sel = [(p, r) for p, r in zip(pts, rows) if r["kind"] == kind]
            if sel:
                ax.scatter([p[0] for p, _ in sel], [p[1] for p, _ in sel], label=kind, **style[kind])
                ax.errorbar([p[0] for p, _ in sel], [p[1] for p, _ in sel], yerr=[r["test_acc_std"] for _, r in sel],
                            fmt="none", ecolor="grey", alpha=0.6)
        for (x, y), r in zip(pts, rows):
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        front = pareto_front(pts)
        if front:
            ax.step([pts[i][0] for i in front], [pts[i][1] for i in front], where="post", c="black", lw=1,
                    ls="--", label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
