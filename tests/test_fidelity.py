"""Fidelity as a first-class budget: rungs, promotion from checkpoints, journal fields.

Promotion is exact: a candidate trained to 2 epochs of a 4-epoch schedule and then promoted
to 4 ends with bit-for-bit the weights (CPU) of one trained straight to 4 with the same seed,
because every rung runs inside one learning-rate schedule defined on the maximum budget and the
checkpoint carries optimizer, scheduler and RNG states.
"""
from __future__ import annotations

import json
import random

import pytest
import torch

from evaluators.candidate import checkpoint_path, evaluate_candidate
from nas.app.runcheck import check_proposal, check_trial_record
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.types import Proposal, trial_dedup_key


def config(**kw) -> SearchConfig:
    return SearchConfig(**{"epochs": 4, "batch_size": 128, "lr": 0.1, "space": "nb201", "device": "cpu",
                           "channels": 4, "layers": 1, **kw})


def weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_promotion_gives_exactly_the_weights_of_straight_training(nb201, digits, tmp_path):
    arch = nb201.sample(random.Random(4))
    cfg = config()
    # straight to 4 epochs (the whole schedule), lineage "t00000"
    straight = evaluate_candidate(nb201, Proposal("t00000", arch, budget=4), cfg, digits, device="cpu",
                                  checkpoint_dir=tmp_path / "a", weights_path=tmp_path / "straight.pt")
    # rung 0: 2 of the 4 epochs, checkpoint kept; then promoted to 4 under another trial id
    low = evaluate_candidate(nb201, Proposal("t00000", arch, budget=2), cfg, digits, device="cpu",
                             checkpoint_dir=tmp_path / "b", weights_path=tmp_path / "low.pt")
    assert low.ok and low.metrics["epochs"] == 2
    assert checkpoint_path(tmp_path / "b", "t00000").exists(), "a rung below the maximum keeps its checkpoint"
    up = Proposal("t00007", arch, budget=4, lineage="t00000", from_budget=2)
    high = evaluate_candidate(nb201, up, cfg, digits, device="cpu", checkpoint_dir=tmp_path / "b",
                              weights_path=tmp_path / "high.pt")
    assert high.ok and high.worker["resumed_from_epoch"] == 2 and high.metrics["epochs"] == 4
    assert not checkpoint_path(tmp_path / "b", "t00000").exists(), "the top rung removes the checkpoint"
    assert high.metrics["val_acc"] == straight.metrics["val_acc"]
    a, b = weights(tmp_path / "straight.pt"), weights(tmp_path / "high.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the low rung is a different model (half-way through the schedule), so the check can fail
    lo = weights(tmp_path / "low.pt")
    assert any(not torch.equal(lo[k], a[k]) for k in a if lo[k].is_floating_point())


def test_a_rung_result_rerun_after_a_crash_trains_nothing_again(nb201, digits, tmp_path):
    arch = nb201.sample(random.Random(1))
    cfg = config(epochs=3)
    first = evaluate_candidate(nb201, Proposal("t00001", arch, budget=1), cfg, digits, device="cpu",
                               checkpoint_dir=tmp_path)
    again = evaluate_candidate(nb201, Proposal("t00001", arch, budget=1), cfg, digits, device="cpu",
                               checkpoint_dir=tmp_path)
    assert again.worker["resumed_from_epoch"] == 1 and again.metrics["val_acc"] == first.metrics["val_acc"]


def test_budget_above_the_schedule_fails_the_trial(nb201, digits):
    r = evaluate_candidate(nb201, Proposal("t1", nb201.sample(random.Random(0)), budget=9), config(epochs=2),
                           digits, device="cpu")
    assert r.status == "failed" and "budget 9" in r.error


def test_proposal_round_trip_and_old_journals(nb201):
    arch = nb201.sample(random.Random(2))
    p = Proposal("t00004", arch, budget=3, lineage="t00001", from_budget=1)
    d = json.loads(json.dumps(p.to_dict()))
    q = Proposal.from_dict(d)
    assert (q.budget, q.lineage, q.from_budget, q.trial) == (3, "t00001", 1, "t00001")
    assert q.dedup_key == f"{arch.key}@3" == trial_dedup_key(d)
    old = {k: v for k, v in d.items() if k not in ("budget", "lineage", "from_budget")}
    o = Proposal.from_dict(old)  # a journal written before fidelities: the config's epochs
    assert (o.budget, o.lineage, o.trial, o.dedup_key) == (None, None, "t00004", arch.key)
    assert "budget" not in Proposal("t1", arch).to_dict()


@pytest.mark.parametrize("field,value", [("budget", "3"), ("budget", -1), ("from_budget", 1.5),
                                         ("lineage", 7)])
def test_bad_fidelity_fields_in_a_run_dir_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        check_trial_record({"id": "t1", "status": "ok", field: value}, "trials.jsonl:1")
    with pytest.raises(ConfigError, match=field):
        check_proposal({"id": "t1", field: value}, "pending.jsonl:1")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_promotions_continue_on_a_two_node_ray_cluster_with_shared_storage(tmp_path):
    """ASHA on the 2-node loopback cluster: promotions continue the lineage's checkpoint from
    ``--storage``, whichever node runs them, and the top rung removes it."""
    pytest.importorskip("ray")
    from nas.app.launch import run_search
    from nas.io import read_jsonl
    from tests.ray_helpers import LoopbackCluster, force_loopback

    force_loopback()
    cluster = LoopbackCluster(workers=1)
    try:
        cluster.connect()
        storage = tmp_path / "shared"
        cfg = SearchConfig(space="nb201", strategy="asha", dataset="digits", batch_size=128, lr=0.1, seed=0,
                           evaluator="ray", channels=4, layers=1, budget=8, runs_dir=str(tmp_path), name="asha",
                           strategy_options={"min_epochs": 1, "max_epochs": 3},
                           evaluator_options={"storage": str(storage)})
        summary = run_search(cfg, progress=False)
        recs = list(read_jsonl(tmp_path / "asha" / "trials.jsonl"))
    finally:
        cluster.shutdown()
    assert summary.n_ok == 8 and all(r["status"] == "ok" for r in recs)
    first_node = {r["id"]: r["worker"]["node_id"] for r in recs if r.get("lineage") is None}
    promos = [r for r in recs if r.get("lineage") is not None]
    assert promos, "ASHA promoted nobody"
    for r in promos:
        assert r["worker"]["resumed_from_epoch"] == r["from_budget"] == 1 and r["metrics"]["epochs"] == 3
    moved = [r for r in promos if r["worker"]["node_id"] != first_node[r["lineage"]]]
    print(f"{len(moved)} of {len(promos)} promotions ran on another node than their first rung")
    assert not list((storage / "asha" / "checkpoints").glob(f"{promos[0]['lineage']}.pt"))
