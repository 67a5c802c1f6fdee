"""The ``ray`` evaluator on a real multi-node Ray cluster bound to 127.0.0.1.

The cluster tests share one head + one worker node (1 CPU each, 100 MB object store) per
module; the node-death test starts its own (its victim must be the only node that runs
trials). Trials are NB201 cells on digits, 1-4 epochs. Every Ray process a test starts is
stopped by handle and then by pid (:class:`tests.ray_helpers.LoopbackCluster`). The resource
planning logic is tested without Ray, against fake cluster resources (no GPU exists here).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluators.ray_resources import RayOptions, plan_resources
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.io import read_jsonl
from tests.ray_helpers import (FAST_HEALTH, LOOPBACK, ROOT, LoopbackCluster, SearchThread, force_loopback,
                               subprocess_env)

force_loopback()
SEARCH = {"space": "nb201", "strategy": "random", "dataset": "digits", "epochs": 1, "batch_size": 64,
          "lr": 0.1, "seed": 0, "evaluator": "ray"}
#: the GCS declares a node dead after ~2 s of silence (default ~30 s) in the node-death test


# -- resource planning (no Ray) -----------------------------------------------------------------------
GPU_NODES = [{"CPU": 8.0, "GPU": 2.0}, {"CPU": 4.0, "GPU": 1.0}]
CPU_NODES = [{"CPU": 2.0}, {"CPU": 1.0, "memory": 1e9}]


def test_fractional_gpus_pack_trials_per_node():
    plan = plan_resources(GPU_NODES, gpus_per_trial=0.5, cpus_per_trial=1)
    assert (plan.gpus_per_trial, plan.capacity) == (0.5, 4 + 2)  # two trials per GPU
    assert plan_resources(GPU_NODES, gpus_per_trial=0.25, cpus_per_trial=2).capacity == 4 + 2  # CPU-bound
    assert plan_resources(GPU_NODES, gpus_per_trial=1 / 3, cpus_per_trial=0).capacity == 6 + 3
    assert plan_resources(GPU_NODES, gpus_per_trial=2, cpus_per_trial=1).capacity == 1  # whole GPUs, one node


def test_default_gpu_request_follows_the_cluster():
    assert plan_resources(GPU_NODES).gpus_per_trial == 1 and plan_resources(GPU_NODES).capacity == 3
    cpu = plan_resources(CPU_NODES)
    assert (cpu.gpus_per_trial, cpu.cpus_per_trial, cpu.capacity) == (0, 1, 3)
    assert plan_resources(GPU_NODES, device="cpu").gpus_per_trial == 0  # --device cpu trains on CPUs
    assert plan_resources(CPU_NODES, cpus_per_trial=2).capacity == 1


@pytest.mark.parametrize("nodes,kwargs,match", [
    (CPU_NODES, {"gpus_per_trial": 1}, "has no GPUs"),
    (CPU_NODES, {"gpus_per_trial": 0.5}, "has no GPUs"),
    (CPU_NODES, {"device": "cuda"}, "no GPUs"),
    (GPU_NODES, {"gpus_per_trial": 1.5}, "whole number"),
    (GPU_NODES, {"gpus_per_trial": 4}, "no node of the Ray cluster"),
    (CPU_NODES, {"cpus_per_trial": 3}, "no node of the Ray cluster"),
    (CPU_NODES, {"gpus_per_trial": 0, "cpus_per_trial": 0}, "must request some CPU or GPU"),
    (GPU_NODES, {"gpus_per_trial": 1, "device": "cpu"}, "conflicts with --device cpu"),
    ([], {}, "no alive nodes"),
])
def test_impossible_requests_are_refused(nodes, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        plan_resources(nodes, **kwargs)


def test_options_are_checked():
    opts = RayOptions.from_mapping({"address": "auto", "gpus_per_trial": 0.5, "cpus_per_trial": 2})
    assert (opts.address, opts.gpus_per_trial, opts.cpus_per_trial, opts.max_retries) == ("auto", 0.5, 2.0, 3)
    with pytest.raises(ConfigError, match="unknown option.*gpus"):
        RayOptions.from_mapping({"gpus": 1})
    with pytest.raises(ConfigError, match="gpus_per_trial must be a number >= 0"):
        RayOptions.from_mapping({"gpus_per_trial": -1})
    with pytest.raises(ConfigError, match="max_retries must be an integer"):
        RayOptions.from_mapping({"max_retries": 1.5})


def test_gpu_trials_on_a_fake_gpu_cluster(monkeypatch, tmp_path):
    """The evaluator's GPU path without hardware: requests, capacity, max_calls=1, device, payload."""
    import ray

    from evaluators.ray import RayEvaluator
    from nas.types import Proposal
    from nas.zoo import get_space

    fake = [{"NodeID": "a", "Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}},
            {"NodeID": "b", "Alive": False, "Resources": {"CPU": 8.0, "GPU": 8.0}},  # dead: not counted
            {"NodeID": "c", "Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}}]
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # "already connected": nothing starts
    monkeypatch.setattr(ray, "nodes", lambda: fake)
    monkeypatch.setenv("NAS_PLUGINS", "")
    monkeypatch.setenv("NAS_CRASH_AFTER", "journal:1")  # a driver-only hook: never forwarded
    space = get_space("nb201")
    cfg = SearchConfig(**SEARCH, evaluator_options={"gpus_per_trial": 0.5, "storage": str(tmp_path / "s")})
    ev = RayEvaluator(space, cfg, run_dir=tmp_path / "runs" / "r")
    assert ev.capacity() == 4 + 2  # two trials per GPU; node c is CPU-bound at 2
    opts = ev._remote._default_options
    assert (opts["num_gpus"], opts["num_cpus"], opts["max_retries"], opts["retry_exceptions"]) == (0.5, 1.0, 3, False)
    assert opts["max_calls"] == 1  # a fresh worker per GPU trial: no CUDA context is inherited
    assert opts["runtime_env"] == {"env_vars": {"NAS_PLUGINS": ""}}
    sent = []
    ev._remote = type("FakeRemote", (), {"remote": staticmethod(lambda payload: sent.append(payload) or object())})
    ev.submit(Proposal("t00007", space.sample(__import__("random").Random(0))))
    payload = sent[0]
    assert payload["device"] == "cuda" and payload["proposal"]["id"] == "t00007"
    assert payload["checkpoint_dir"] == str((tmp_path / "s" / "r" / "checkpoints").resolve())
    assert payload["config"]["evaluator_options"] == {}  # the driver ships the proposal and config only
    cpu = RayEvaluator(space, SearchConfig(**SEARCH, device="cpu"))
    assert cpu.capacity() == 10 and cpu._remote._default_options["num_gpus"] == 0
    assert "max_calls" not in cpu._remote._default_options  # CPU workers are reused (data cached)
    bad = RayEvaluator(space, SearchConfig(**SEARCH, evaluator_options={"gpus_per_trial": 3}))
    with pytest.raises(ConfigError, match="no node of the Ray cluster"):
        bad.capacity()


def test_auto_evaluator_rule(monkeypatch):
    from nas.app.launch import choose_evaluator

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = SearchConfig(device="cpu")
    assert choose_evaluator(cfg) == "local"
    assert choose_evaluator(SearchConfig(device="cpu", evaluator_options={"address": "auto"})) == "ray"
    assert choose_evaluator(SearchConfig(device="cpu", evaluator_options={"gpus_per_trial": 0.5})) == "ray"
    explicit = SearchConfig(device="cpu", evaluator="local", evaluator_options={"address": "x"})
    assert choose_evaluator(explicit) == "local"  # --evaluator always overrides
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert choose_evaluator(cfg) == "ray"
    monkeypatch.delenv("RAY_ADDRESS")
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert choose_evaluator(SearchConfig()) == "ray"  # more than one GPU
    assert choose_evaluator(SearchConfig(device="cuda:1")) == "local"  # one chosen GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert choose_evaluator(SearchConfig()) == "local"


# -- a real loopback cluster ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    c = LoopbackCluster(workers=1)
    try:
        yield c
    finally:
        c.shutdown()
        assert not c.leftovers(), "Ray processes left running"


def journal(run: Path) -> list[dict]:
    return list(read_jsonl(run / "trials.jsonl")) if (run / "trials.jsonl").exists() else []


def nas_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas", "search", *args]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_node_search_runs_trials_on_both_nodes(cluster, tmp_path):
    from evaluators.ray import RayEvaluator
    from nas.app.launch import run_search
    from nas.zoo import get_space

    cluster.connect()
    cfg = SearchConfig(**SEARCH, budget=6, runs_dir=str(tmp_path), name="two")
    ev = RayEvaluator(get_space("nb201"), cfg)
    assert ev.capacity() == 2  # one 1-CPU trial per node: the default --max-concurrent
    ev.shutdown()  # the test's own connection stays open
    summary = run_search(cfg, progress=False)
    recs = journal(tmp_path / "two")
    assert summary.n_ok == 6 and [r["status"] for r in recs] == ["ok"] * 6
    assert len({r["id"] for r in recs}) == 6
    nodes = {r["worker"]["node_id"] for r in recs}
    assert nodes == cluster.alive_node_ids() and len(nodes) == 2  # trials ran on both nodes
    for r in recs:
        w = r["worker"]
        assert w["node_ip"] == LOOPBACK and w["gpu_ids"] == [] and w["device"] == "cpu"
        assert w["resumed_from_epoch"] == 0 and isinstance(w["pid"], int) and w["host"]
    assert len({r["worker"]["pid"] for r in recs}) < 6  # workers are reused (data cached per process)
    assert not list((tmp_path / "two" / "checkpoints").glob("*.pt"))  # removed after each result
    from nas.layout import trial_weights_path

    kept = [r["id"] for r in recs if trial_weights_path(tmp_path / "two", r["id"]).is_file()]
    assert len(kept) == cfg.keep_weights == 5  # trained weights written by the workers, pruned to the top 5


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ray_search_exports_its_trained_weights_from_storage(cluster, tmp_path):
    """Workers keep the top-k weights on --storage as the local evaluator does; the export finds them
    there, and the exported model.py + weights.pt reproduce the trial's val_acc on raw digits."""
    from nas.app.export import export_top
    from nas.app.launch import run_search
    from nas.layout import trial_weights_path
    from tests.test_export_roundtrip import raw_digits_accuracy

    cluster.connect()
    storage = tmp_path / "shared"
    cfg = SearchConfig(**{**SEARCH, "epochs": 2}, budget=3, keep_weights=2, runs_dir=str(tmp_path / "runs"),
                       name="wts", evaluator_options={"storage": str(storage)})
    assert run_search(cfg, progress=False).n_ok == 3
    run = tmp_path / "runs" / "wts"
    recs = journal(run)
    top2 = sorted(recs, key=lambda r: -r["metrics"]["val_acc"])[:2]
    kept = sorted(p.stem for p in (storage / "wts" / "weights").glob("*.pt"))
    assert kept == sorted(r["id"] for r in top2)  # written on the shared storage, pruned to the top 2
    assert not (run / "weights").exists()  # not in the run directory
    assert trial_weights_path(run, top2[0]["id"], str(storage)).is_file()
    [folder] = export_top(run, formats="yaml,py", out=tmp_path / "export")
    assert folder.name == f"1-{top2[0]['id']}" and (folder / "weights.pt").is_file()
    assert "trained: `weights.pt`" in (folder / "card.md").read_text()
    assert raw_digits_accuracy(folder, seed=SEARCH["seed"]) == pytest.approx(top2[0]["metrics"]["val_acc"], abs=1e-6)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_gpus_on_cpu_only_cluster_exit_2(cluster, tmp_path):
    r = subprocess.run(nas_cmd("--address", cluster.address, "--gpus-per-trial", "1", "--space", "nb201",
                               "--budget", "2", "--runs-dir", str(tmp_path), "--name", "g"),
                       cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=100)
    assert r.returncode == 2, r.stderr
    err = [line for line in r.stderr.splitlines() if line.startswith("nas: error:")]
    assert len(err) == 1 and "--gpus-per-trial 1: the Ray cluster has no GPUs" in err[0], r.stderr
    assert not (tmp_path / "g").exists()  # refused before the run directory was created


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_driver_killed_then_resumed_on_the_cluster(cluster, tmp_path):
    run, storage = tmp_path / "d", tmp_path / "shared"
    args = ("--space", "nb201", "--strategy", "random", "--budget", "4", "--epochs", "4", "--lr", "0.1",
            "--address", cluster.address, "--storage", str(storage), "--runs-dir", str(tmp_path), "--name", "d")
    ckpts = storage / "d" / "checkpoints"
    proc = subprocess.Popen(nas_cmd(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        interrupted = wait_for(lambda: {p.stem for p in ckpts.glob("*.pt")}, 180, "a trial checkpoint", proc)
    finally:
        proc.kill()  # SIGKILL mid-search: its trials are mid-training
        proc.wait()
    before = [r["id"] for r in journal(run)]
    assert interrupted - set(before)
    r = subprocess.run(nas_cmd("--resume", str(run), "--address", cluster.address), cwd=ROOT,
                       env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    recs = journal(run)
    ids = [x["id"] for x in recs]
    assert len(ids) == len(set(ids)) == 4  # no trial lost or duplicated
    assert ids[:len(before)] == before  # finished trials were kept, never re-run
    by_id = {x["id"]: x for x in recs}
    for tid in interrupted - set(before):  # re-submitted with the same id, resumed mid-training
        assert by_id[tid]["status"] == "ok"
        assert by_id[tid]["worker"]["resumed_from_epoch"] >= 1, by_id[tid]["worker"]
    assert not list(ckpts.glob("*.pt"))


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_worker_node_death_retries_the_trial(tmp_path):
    """Kill the only trial-running node mid-trial; a replacement node finishes the retried trial."""
    import ray

    if ray.is_initialized():
        ray.shutdown()  # this test drives its own cluster
    c = LoopbackCluster(workers=1, head_cpus=0, system_config=FAST_HEALTH)
    try:
        c.connect()
        victim = c.workers[0]
        cfg = SearchConfig(**{**SEARCH, "epochs": 3}, budget=4, runs_dir=str(tmp_path), name="w")
        driver = SearchThread(cfg)
        ckpts = tmp_path / "w" / "checkpoints"
        killed = wait_for(lambda: c.busy_workers(victim) and {p.stem for p in ckpts.glob("*.pt")}, 180,
                          "a trial mid-training on the victim node")
        c.kill_node(victim)  # raylet, then its workers: a lost machine
        replacement = c.add_worker()
        driver.join(240)
        recs = journal(tmp_path / "w")
        ids = [r["id"] for r in recs]
        assert len(ids) == len(set(ids)) == 4 and all(r["status"] == "ok" for r in recs)  # each exactly once
        by_id = {r["id"]: r for r in recs}
        for tid in killed:  # retried by Ray on the new node, from its last checkpoint
            assert by_id[tid]["worker"]["node_id"] == replacement.node_id
            assert by_id[tid]["worker"]["resumed_from_epoch"] >= 1
        assert victim.node_id not in c.alive_node_ids()
    finally:
        c.shutdown()
        assert not c.leftovers(), "Ray processes left running"
