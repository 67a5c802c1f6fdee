"""Zero-cost proxies as trial metrics (``--proxies``) and the proxy warm start (``--warm-start``).

The warm start (README, "Warm start"; Abdelfattah et al., ICLR 2021, §5) pre-screens sampled
architectures with one proxy and seeds the strategy with the best: checked at the strategy
contract (seeds first, for every strategy that takes them), on the pre-screen itself
(deterministic, ranked), end to end (the first trials are the pre-screen's top architectures;
its time counts against a time budget), across a SIGKILL and resume (the pre-screen is not
recomputed) and on bad input (exit 2, one line, nothing written). Tiny NB201 cells on digits.
"""
from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest

import nas
from nas.app import warm_start
from tests.faults import cli
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.registry import STRATEGIES
from nas.testing.strategies import fake_result

TINY = ["--space", "nb201", "--epochs", "1", "--channels", "4", "--layers", "1", "--evaluator-option", "workers=1"]




def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines() if line.strip()]


# -- the strategy contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["random", "evolution", "local", "bananas", "tpe", "hyperband", "bohb", "asha"])
def test_warm_start_seeds_the_first_proposals(name, nb201):
    rng = random.Random(7)
    seeds = []
    while len(seeds) < 3:
        a = nb201.sample(rng)
        if a.key not in {s.key for s in seeds}:
            seeds.append(a)
    strat = STRATEGIES.create(name, nb201, seed=1)
    strat.warm_start([seeds[0], *seeds, seeds[1]])  # duplicates are dropped, the order kept
    fresh = []
    for _ in range(6):
        p = strat.ask()
        if p is None:
            break
        strat.tell(p.id, fake_result(p))
        if p.lineage is None:  # not a promotion
            fresh.append(p)
    assert [p.arch.key for p in fresh[:3]] == [s.key for s in seeds]
    assert all(p.info.get("origin") == "warm_start" or p.info.get("sampled") == "warm_start" for p in fresh[:3])
    assert all(p.info.get("origin") != "warm_start" and p.info.get("sampled") != "warm_start" for p in fresh[3:])


def test_warm_start_after_the_first_proposal_is_refused(nb201):
    strat = STRATEGIES.create("random", nb201, seed=0)
    strat.ask()
    with pytest.raises(ConfigError, match="before the first proposal"):
        strat.warm_start([nb201.sample(random.Random(0))])


@pytest.mark.parametrize("name", ["rl", "darts"])
def test_strategies_without_seeds_refuse(name, nb201):
    with pytest.raises(ConfigError, match="cannot be warm-started"):
        STRATEGIES.create(name, nb201, seed=0).warm_start([nb201.sample(random.Random(0))])


# -- the pre-screen ------------------------------------------------------------------------------------
def test_rank_orders_by_score_then_sampling_order_and_skips_unscored():
    from evaluators.prescreen import rank

    assert rank([1.0, None, 3.0, 3.0, -2.0], 3) == [2, 3, 0]
    assert rank([None, None], 2) == []


def test_prescreen_is_deterministic_and_keeps_the_best(nb201, digits):
    from evaluators.prescreen import prescreen

    cfg = SearchConfig(space="nb201", channels=4, layers=1)
    a = prescreen(nb201, cfg, digits, proxy="naswot", samples=10, top=4)
    b = prescreen(nb201, cfg, digits, proxy="naswot", samples=10, top=4)
    assert [x.key for x in a.archs] == [x.key for x in b.archs] and a.scores == b.scores and a.top == b.top
    assert len({x.key for x in a.archs}) == 10 and len(a.top) == 4 and not a.errors
    ranked = sorted(range(10), key=lambda i: -a.scores[i])  # type: ignore[operator]
    assert a.top == ranked[:4] and len(set(a.scores)) > 1  # the proxy tells the cells apart
    other = prescreen(nb201, SearchConfig(space="nb201", channels=4, layers=1, seed=1), digits,
                      proxy="naswot", samples=10, top=4)
    assert [x.key for x in other.archs] != [x.key for x in a.archs]  # the pool follows the search seed


def test_bad_record_is_a_config_error(tmp_path):
    (tmp_path / warm_start.WARM_START).write_text('{"format": "nas/warm-start@1", "config": {}, "seconds": -1}')
    with pytest.raises(ConfigError, match="warm_start.json: field 'seconds'"):
        warm_start.read_record(tmp_path)


def test_resume_reuses_the_record_and_a_snapshot_skips_it(tmp_path, nb201, monkeypatch):
    cfg = SearchConfig(space="nb201", channels=4, layers=1, warm_start={"proxy": "naswot", "samples": 6, "top": 2})
    record = warm_start.compute(cfg, nb201)
    warm_start.start(record, STRATEGIES.create("random", nb201, seed=0), tmp_path)

    def never(*_a, **_k):
        raise AssertionError("the pre-screen was computed again")

    monkeypatch.setattr(warm_start, "compute", never)
    written = (tmp_path / warm_start.WARM_START).stat().st_mtime_ns
    strat = STRATEGIES.create("random", nb201, seed=0)
    assert warm_start.for_resume(cfg, nb201, strat, tmp_path, has_snapshot=False) == record["seconds"]
    assert [a.key for a in strat.seeds] == [s["key"] for s in record["seeds"]]
    assert (tmp_path / warm_start.WARM_START).stat().st_mtime_ns == written  # read, not rewritten
    strat = STRATEGIES.create("random", nb201, seed=0)
    assert warm_start.for_resume(cfg, nb201, strat, tmp_path, has_snapshot=True) == 0.0 and not strat.seeds
    changed = SearchConfig(space="nb201", channels=4, layers=1, warm_start={"proxy": "naswot", "samples": 6, "top": 3})
    with pytest.raises(AssertionError, match="computed again"):  # other settings: the record does not fit
        warm_start.for_resume(changed, nb201, STRATEGIES.create("random", nb201, seed=0), tmp_path, False)


# -- the command line ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_proxies_flag_adds_proxy_metrics(tmp_path, capsys):
    rc, _, err = cli(capsys, "search", *TINY, "--strategy", "random", "--budget", "2", "--proxies", "naswot,synflow",
                     "--runs-dir", str(tmp_path), "--name", "p")
    assert rc == 0, err
    recs = journal(tmp_path / "p")
    assert len(recs) == 2
    for r in recs:
        assert {"proxy_naswot", "proxy_synflow", "proxy_seconds"} <= set(r["metrics"])
        assert r["metrics"]["proxy_seconds"] > 0
    assert nas.load_run(tmp_path / "p").config["proxies"] == ["naswot", "synflow"]


BAD = {
    "unknown proxy": (["--proxies", "naswot,bogus"], "unknown proxy 'bogus'"),
    "empty proxy name": (["--proxies", "naswot,"], "--proxies"),
    "unknown warm-start proxy": (["--warm-start", "bogus"], "unknown proxy 'bogus'"),
    "top over samples": (["--warm-start", "naswot", "--warm-start-samples", "2", "--warm-start-top", "3"],
                         "'top' (3) must be <= 'samples' (2)"),
    "samples without a proxy": (["--warm-start-samples", "5"], "needs 'proxy'"),
    "zero samples": (["--warm-start", "naswot", "--warm-start-samples", "0"], "--warm-start-samples must be >= 1"),
    "rl cannot be seeded": (["--warm-start", "naswot", "--strategy", "rl"], "strategy 'rl' cannot be warm-started"),
    "one-shot cannot be seeded": (["--warm-start", "naswot", "--strategy", "darts"], "cannot be warm-started"),
    "sampler cannot be seeded": (["--warm-start", "naswot", "--strategy", "hyperband", "--strategy-option",
                                  "sampler=rl"], "with sampler 'rl' cannot be warm-started"),
    "table lookups": (["--warm-start", "naswot", "--evaluator", "tabular"], "evaluator 'tabular' trains on none"),
    "unknown key in a config file": (["--config", "{dir}/ws.yaml"], "field 'warm_start' has unknown key 'pool'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    (tmp_path / "ws.yaml").write_text("warm_start: {proxy: naswot, pool: 3}\n")
    args, message = BAD[case]
    runs = tmp_path / "runs"
    rc, out, err = cli(capsys, "search", *TINY, "--strategy", "random", "--budget", "2", "--runs-dir", str(runs),
                       "--name", "x", *[a.replace("{dir}", str(tmp_path)) for a in args])
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("nas: error: ") and message in err, err
    assert not runs.exists()


@pytest.mark.slow
def test_search_starts_from_the_prescreens_best(tmp_path, capsys):
    rc, out, err = cli(capsys, "search", *TINY, "--strategy", "evolution", "--population", "3", "--budget", "4",
                       "--warm-start", "naswot", "--warm-start-samples", "8", "--warm-start-top", "3",
                       "--runs-dir", str(tmp_path), "--name", "w")
    assert rc == 0, err
    run = tmp_path / "w"
    assert "warm start: naswot scored 8 of 8" in out
    record = warm_start.read_record(run)
    assert record is not None and record["config"]["warm_start"] == {"proxy": "naswot", "samples": 8, "top": 3}
    pool = sorted(record["pool"], key=lambda p: (-p["score"], p["index"]))
    assert [s["key"] for s in record["seeds"]] == [p["key"] for p in pool[:3]]
    recs = journal(run)
    assert [r["key"] for r in recs[:3]] == [s["key"] for s in record["seeds"]]
    assert [r["info"]["origin"] for r in recs] == ["warm_start"] * 3 + ["mutation"]
    snapshot = json.loads((run / "strategy.json").read_text())
    assert snapshot["elapsed"] >= record["seconds"] + sum(r["seconds"] for r in recs)
    assert nas.load_run(run).config["warm_start"] == {"proxy": "naswot", "samples": 8, "top": 3}
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    rc, _, err = cli(capsys, "search", "--resume", str(run), "--warm-start-top", "2")  # not a resumable setting
    assert rc == 2 and "field 'warm_start'" in err and "would change the search" in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    rc, _, err = cli(capsys, "search", "--resume", str(run), "--force", "--warm-start", "naswot",
                     "--warm-start-top", "2")  # not even with --force: the seeds are in the strategy state
    assert rc == 2 and err.count("\n") == 1 and "cannot change on resume" in err, err
    unchanged = {k: v for k, v in before.items() if k != "lock"}  # opening the run records its holder
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "lock"} == unchanged


@pytest.mark.slow
def test_prescreen_time_counts_against_the_time_budget(tmp_path, monkeypatch):
    real = warm_start.compute

    def slow_compute(config, space):  # as if the pre-screen had taken 1000 s
        return {**real(config, space), "seconds": 1000.0}

    monkeypatch.setattr(warm_start, "compute", slow_compute)
    # two forked workers: the pre-screen's backward passes (synflow) must not break training in them
    settings = dict(space="nb201", strategy="random", budget=3, epochs=1, channels=4, layers=1,
                    evaluator_options={"workers": 2}, runs_dir=str(tmp_path), name="t", progress=False)
    run = nas.search(**settings, time_budget=500, warm_start={"proxy": "synflow", "samples": 4, "top": 2})
    assert run.trials() == [] and "time budget of 500s" in run.summary.stopped_reason
    run = nas.resume(tmp_path / "t", time_budget=5000, progress=False)  # the seeds come first, once
    done = sorted(run.trials(), key=lambda t: t["id"])
    assert [t["info"]["origin"] for t in done] == ["warm_start", "warm_start", "random"]
    assert [t["status"] for t in done] == ["ok"] * 3, [t["error"] for t in done]
    assert json.loads((tmp_path / "t" / "strategy.json").read_text())["elapsed"] > 1000


@pytest.mark.slow
def test_resume_after_sigkill_does_not_recompute_the_prescreen(tmp_path):
    from tests.test_crash_resume import nas as nas_cli, real_sequence, trials

    args = ["--space", "nb201", "--evaluator", "local", "--evaluator-option", "workers=1", "--strategy", "local",
            "--strategy-option", "n_init=2", "--budget", "5", "--epochs", "1", "--channels", "4", "--layers", "1",
            "--max-concurrent", "1", "--seed", "2", "--warm-start", "snip", "--warm-start-samples", "6",
            "--warm-start-top", "2", "--runs-dir", str(tmp_path)]
    ref = nas_cli(*args, "--name", "ref")
    assert ref.returncode == 0, ref.stderr
    r = nas_cli(*args, "--name", "r", crash="journal:2")
    run = tmp_path / "r"
    assert r.returncode == -signal.SIGKILL and len(trials(run)) == 2
    before = (run / warm_start.WARM_START).read_bytes()
    r = nas_cli("--resume", str(run))
    assert r.returncode == 0, r.stderr
    assert (run / warm_start.WARM_START).read_bytes() == before
    assert real_sequence(run) == real_sequence(tmp_path / "ref")
    assert [t["info"]["origin"] for t in trials(run)][:2] == ["warm_start", "warm_start"]


def test_evolution_keeps_only_the_best_p_seeds(nb201):
    """More seeds than the population would age the best ones out: only the first P are used."""
    rng = random.Random(3)
    archs = list({a.key: a for a in (nb201.sample(rng) for _ in range(20))}.values())[:5]
    strat = STRATEGIES.create("evolution", nb201, seed=0, population=3, sample_size=2)
    strat.warm_start(archs)
    asked = [strat.ask() for _ in range(4)]
    assert [p.arch.key for p in asked[:3]] == [a.key for a in archs[:3]]
    assert asked[3].arch.key not in {a.key for a in archs}  # then children of the population
