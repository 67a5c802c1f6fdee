"""A promotion that lands on another Ray node continues from the shared checkpoint.

A 1-CPU worker node (the head runs no trials) trains ASHA's first rungs; once three rung
results are journaled, ASHA's next proposal is a promotion, and the node is killed (raylet,
then its workers: a lost machine) and replaced. The promotion of a lineage whose first rung
ran on the dead node must run on the new node and continue from the checkpoint kept on
``--storage`` (``resumed_from_epoch`` at least the rung's budget), and every rung is journaled
once.
"""
from __future__ import annotations

import time

import pytest

from nas.config import SearchConfig

def _wait_for(predicate, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_promotion_continues_on_another_node_from_shared_storage(tmp_path):
    pytest.importorskip("ray")
    import ray

    from nas.io import read_jsonl
    from tests.ray_helpers import FAST_HEALTH, LoopbackCluster, SearchThread, force_loopback

    force_loopback()
    if ray.is_initialized():
        ray.shutdown()  # this test drives its own cluster
    cluster = LoopbackCluster(workers=1, head_cpus=0, system_config=FAST_HEALTH)
    storage, journal = tmp_path / "shared", tmp_path / "asha" / "trials.jsonl"
    try:
        cluster.connect()
        victim = cluster.workers[0]
        cfg = SearchConfig(space="nb201", strategy="asha", dataset="digits", batch_size=128, lr=0.1, seed=0,
                           evaluator="ray", channels=4, layers=1, budget=6, runs_dir=str(tmp_path), name="asha",
                           strategy_options={"min_epochs": 1, "max_epochs": 3},
                           evaluator_options={"storage": str(storage)})
        driver = SearchThread(cfg)
        _wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 3, 240, "three first rungs")
        cluster.kill_node(victim)
        replacement = cluster.add_worker()
        driver.join(300)
        recs = list(read_jsonl(journal))
    finally:
        cluster.shutdown()
    assert len({r["id"] for r in recs}) == len(recs) == 6 and all(r["status"] == "ok" for r in recs)
    first = {r["id"]: r for r in recs if r.get("lineage") is None}
    promos = [r for r in recs if r.get("lineage") is not None]
    moved = [r for r in promos if first[r["lineage"]]["worker"]["node_id"] == victim.node_id]
    assert moved, "no lineage of the lost node was promoted"
    for r in moved:
        assert r["worker"]["node_id"] == replacement.node_id
        assert r["worker"]["resumed_from_epoch"] >= r["from_budget"] >= 1  # continued, not retrained
        assert r["metrics"]["epochs"] == 3
    assert not list((storage / "asha" / "checkpoints").glob(f"{moved[0]['lineage']}.pt"))
