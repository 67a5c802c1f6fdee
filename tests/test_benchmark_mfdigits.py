"""benchmarks/multifidelity_digits.py: the post-hoc epoch cut, time to target and the summary, on hand-made
journal records; and one tiny end-to-end run (slow) whose searches stop at the epoch budget."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("multifidelity_digits", ROOT / "benchmarks" / "multifidelity_digits.py")
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)


def rec(tid, t0, t1, val=None, budget=None, from_budget=None, status="ok", epochs=None):
    """A journal record as the driver writes it (only the fields the benchmark reads)."""
    r = {"id": tid, "status": status, "started": t0, "finished": t1, "seconds": t1 - t0,
         "metrics": {} if val is None else {"val_acc": val}, "config": {} if epochs is None else {"epochs": epochs}}
    if budget is not None:
        r["budget"] = budget
    if from_budget is not None:
        r["lineage"], r["from_budget"] = "t00000", from_budget
    return r


# a Hyperband-like journal at max_epochs 9: three 1-epoch rungs, a promotion 1 -> 3 (2 epochs), a fresh 3-epoch
# trial, a promotion 3 -> 9 (6 epochs) and a fresh 9-epoch trial; the 1-epoch trial t00001 has the best val_acc
HB = [rec("t00000", 100.0, 101.0, 40.0, 1), rec("t00001", 101.0, 102.0, 99.9, 1),
      rec("t00002", 102.0, 103.0, 50.0, 1), rec("t00003", 103.0, 105.0, 90.0, 3, 1),
      rec("t00004", 105.0, 108.0, 91.0, 3), rec("t00005", 108.0, 114.0, 97.0, 9, 3),
      rec("t00006", 114.0, 123.0, 98.5, 9), rec("t00007", 123.0, 124.0, None, 1, status="failed")]
# an evolution journal, 9 epochs a trial (from the search's --epochs, not the record): best 97.5 at t=40 s
EVO = [rec("t00000", 10.0, 20.0, 95.0), rec("t00001", 20.0, 30.0, 96.0), rec("t00002", 30.0, 40.0, 97.5),
       rec("t00003", 40.0, 50.0, 97.0)]


def test_epochs_trained_counts_only_what_a_promotion_adds():
    assert [mf.epochs_trained(r, 9) for r in HB] == [1, 1, 1, 2, 3, 6, 9, 1]
    assert [mf.epochs_trained(r, 9) for r in EVO] == [9, 9, 9, 9]
    assert mf.epochs_trained(rec("t", 0.0, 1.0, 50.0, epochs=4), 9) == 4  # a per-trial epochs setting wins


def test_cut_stops_at_the_trial_where_the_cumulative_epochs_reach_the_budget():
    rows = mf.trial_rows(HB, 9)
    cut = mf.cut_at_epochs(rows, 14)  # 1, 2, 3, 5, 8, 14: the sixth trial reaches 14 exactly
    assert [r["cum_epochs"] for r in cut] == [1, 2, 3, 5, 8, 14]
    cut = mf.cut_at_epochs(rows, 9)  # 8 < 9 <= 14: the promotion to 9 is the trial that reaches it
    assert [r["id"] for r in cut][-1] == "t00005" and cut[-1]["cum_epochs"] == 14
    whole = mf.cut_at_epochs(rows, 1000)  # never reached: every trial
    assert len(whole) == len(HB) and whole[-1]["cum_epochs"] == 24
    assert mf.cut_at_epochs(mf.trial_rows(EVO, 9), 18)[-1]["id"] == "t00001"


def test_trial_rows_time_is_from_the_first_trials_start():
    rows = mf.trial_rows(HB, 9)
    assert [r["elapsed"] for r in rows] == [1.0, 2.0, 3.0, 5.0, 8.0, 14.0, 23.0, 24.0]
    assert [r["budget"] for r in rows] == [1, 1, 1, 3, 3, 9, 9, 1]
    assert rows[-1]["val_acc"] is None and rows[1]["val_acc"] == 99.9


def test_final_best_and_first_reach_use_top_rung_trials_only():
    rows = mf.cut_at_epochs(mf.trial_rows(HB, 9), 100)
    assert mf.final_best(rows, 9) == 98.5  # not t00001's 99.9 at 1 epoch
    assert mf.first_reach(rows, 9, 97.0) == (14.0, 14)
    assert mf.first_reach(rows, 9, 98.0) == (23.0, 23)
    assert mf.first_reach(rows, 9, 99.0) is None  # only a 1-epoch trial is that good
    assert mf.final_best(rows[:5], 9) is None


def entry(strategy, records, seed=0, budget=36):
    return {"seed": seed, "strategy": strategy, "max_epochs": 9, "epoch_budget": budget,
            "rows": mf.trial_rows(records, 9), "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]}


def test_analyse_ratio_cut_and_verdict():
    fast = [rec("t00000", 0.0, 1.0, 60.0, 1), rec("t00001", 1.0, 10.0, 97.5, 9)]  # target at 10 s: 3x faster
    slow = [rec("t00000", 0.0, 1.0, 60.0, 1), rec("t00001", 1.0, 10.0, 90.0, 9),
            rec("t00002", 10.0, 30.0, 99.0, 9, 0)]  # reaches the target at 30 s, after 19 epochs
    entries = [entry("evolution", EVO), entry("hyperband", fast), entry("asha", slow)]
    res = {r["strategy"]: r for r in mf.analyse(entries)}
    assert res["evolution"]["target"] == 97.5 and res["evolution"]["time_to_target"] == 30.0  # 40 - 10
    assert res["evolution"]["epochs"] == 36 and res["evolution"]["trials"] == 4
    assert res["hyperband"]["ratio"] == pytest.approx(3.0) and res["hyperband"]["epochs_to_target"] == 10
    assert res["asha"]["time_to_target"] == 30.0 and res["asha"]["ratio"] == pytest.approx(1.0)
    # a 10-epoch budget: evolution keeps two trials (9 + 9 >= 10; target 96.0 at 20 s), asha's 99 is cut off
    res = {r["strategy"]: r for r in mf.analyse(entries, epoch_budget=10)}
    assert res["evolution"]["target"] == 96.0 and res["evolution"]["time_to_target"] == 20.0
    assert res["asha"]["final_best"] == 90.0 and res["asha"]["trials"] == 2 and res["asha"]["ratio"] == 0.0
    assert res["hyperband"]["ratio"] == pytest.approx(20.0 / 10.0)
    never = [rec("t00000", 0.0, 9.0, 80.0, 9)]
    res = {r["strategy"]: r for r in mf.analyse([entry("evolution", EVO), entry("asha", never)])}
    assert res["asha"]["ratio"] == 0.0 and res["asha"]["time_to_target"] is None
    text = mf.table(mf.analyse(entries))
    assert "- hyperband: issue target" in text and "MET: median ratio 3.00" in text
    assert "- asha: issue target (>= 2x less time at equal or better final val_acc) NOT met" in text
    assert text.count("| 0 | ") == 3


def test_later_entries_replace_earlier_ones_and_seeds_take_their_own_target():
    other = [rec("t00000", 0.0, 5.0, 99.0, epochs=9)]
    entries = [entry("evolution", EVO), entry("evolution", other), entry("evolution", EVO, seed=1),
               entry("hyperband", [rec("t00000", 0.0, 2.5, 99.0, 9)])]
    res = {(r["seed"], r["strategy"]): r for r in mf.analyse(entries)}
    assert res[(0, "evolution")]["target"] == 99.0 and res[(1, "evolution")]["target"] == 97.5
    assert res[(0, "hyperband")]["ratio"] == pytest.approx(5.0 / 2.5)


def test_epoch_stop_lowers_the_trial_budget_once_the_epochs_are_spent():
    stop = mf.EpochStop(epoch_budget=5, default_epochs=9)
    search = SimpleNamespace(budget=100, n_finished=0)
    for i, r in enumerate(HB[:4], start=1):  # 1, 2, 3, 5 epochs
        search.n_finished = i
        stop.trial_finished(r, search)
        assert search.budget == (100 if i < 4 else 4)


def test_bad_flags_exit_2(capsys):
    for argv in (["--seeds", "0"], ["--max-epochs", "-1"], ["--strategies", "bohb"], ["--summarise-only"]):
        with pytest.raises(SystemExit) as e:
            mf.main(argv)
        assert e.value.code == 2
    assert "--summarise-only needs --out" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_benchmark_end_to_end(tmp_path, capsys):
    out = tmp_path / "mf"
    args = ["--seeds", "1", "--trials", "2", "--max-epochs", "3", "--channels", "4", "--layers", "2", "--out", str(out)]
    assert mf.main(args) == 0
    entries = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [e["strategy"] for e in entries] == ["evolution", "hyperband", "asha"]
    for e in entries:
        journal = [json.loads(line) for line in (Path(e["run_dir"]) / "trials.jsonl").read_text().splitlines()]
        assert len(journal) == len(e["rows"])
        trained = [mf.epochs_trained(r, 3) for r in journal]
        # the search ended at the trial that reached the 6-epoch budget (2 trials x 3 epochs), not later
        assert sum(trained) >= 6 and sum(trained[:-1]) < 6
        assert e["load_start"] and e["load_end"]
    assert [r["epochs"] for r in entries[0]["rows"]] == [3, 3]
    promotions = [r for r in (json.loads(x) for x in (Path(entries[1]["run_dir"]) / "trials.jsonl").read_text()
                              .splitlines()) if r.get("from_budget")]
    assert promotions and all(mf.epochs_trained(r, 3) == r["budget"] - r["from_budget"] for r in promotions)
    capsys.readouterr()
    assert mf.main(["--out", str(out), "--summarise-only"]) == 0
    text = capsys.readouterr().out
    assert text.count("| 0 | ") == 3 and "- asha: issue target" in text
