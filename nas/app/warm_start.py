"""Warm start of a search: a zero-cost proxy pre-screen whose best architectures seed the strategy.

Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, §5: score ``N`` sampled
architectures with a proxy before the search, and let the ``K`` best be the strategy's first
proposals (its initial population, design or predictor data). The pre-screen itself is
:func:`evaluators.prescreen.prescreen`; this module runs it for :func:`nas.app.launch.run_search`
and keeps the run directory crash-safe:

* :func:`check_warm_start` (from :func:`nas.app.launch.assemble`, before anything is written): the
  settings, the proxy's name, a strategy that can be seeded (``Strategy.check_warm_start``) and an
  evaluator that trains on the search dataset (a table lookup, ``simulated_time``, trains on none);
* :func:`compute`: the pre-screen on the driver's machine, on the search dataset and with the
  trials' build settings; for a new run it runs before the run directory exists, so a bad dataset
  or a crash leaves nothing behind, and running it again gives the same seeds;
* :func:`start`: write ``warm_start.json`` atomically (:data:`WARM_START`) and seed the strategy;
  it returns the pre-screen's seconds, which the search counts in its elapsed time (and so in a
  ``time_budget``);
* :func:`for_resume`: a resumed run whose strategy snapshot exists already holds the seeds in the
  strategy state and the seconds in the snapshot's elapsed time: nothing happens. Without a
  snapshot (killed before the first one) the recorded pre-screen is reused (recomputed only if
  it is missing or was made with other settings).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from nas.arch import Architecture
from nas.config import SearchConfig, warm_start_settings
from nas.errors import ConfigError, NasError
from nas.io import atomic_write_json
from nas.app.runcheck import parse_json_file
from nas.app.runlock import now_iso

#: the pre-screen's record in the run directory
WARM_START = "warm_start.json"
FORMAT = "nas/warm-start@1"
#: the config fields a pre-screen's outcome depends on (besides ``warm_start`` itself)
DEPENDS_ON = ("space", "space_definition", "seed", "dataset", "batch_size", "channels", "layers")


def check_warm_start(config: SearchConfig, strategy: Any, evaluator: Any) -> dict[str, Any] | None:
    """The resolved warm-start settings of ``config`` (None: no warm start), or ConfigError.

    ``evaluator`` is the evaluator (instance or class) the search will use, or None when there
    is none (the Ray Tune adapter): its ``simulated_time`` says whether it trains on the dataset.
    """
    if config.warm_start is None:
        return None
    settings = warm_start_settings(config.warm_start)
    from evaluators.prescreen import check_proxy

    check_proxy(settings["proxy"])
    strategy.check_warm_start()
    if evaluator is not None and evaluator.simulated_time:
        raise ConfigError(f"a warm start scores architectures on the search dataset, but evaluator "
                          f"{evaluator.name!r} trains on none (it looks results up); use a training "
                          "evaluator (local, ray) or leave the warm start out")
    return settings


def fingerprint(config: SearchConfig) -> dict[str, Any]:
    """What a recorded pre-screen must match to be reused: the settings and :data:`DEPENDS_ON`."""
    assert config.warm_start is not None
    return {"warm_start": warm_start_settings(config.warm_start),
            **{k: getattr(config, k) for k in DEPENDS_ON}}


def compute(config: SearchConfig, space: Any) -> dict[str, Any]:
    """Run the pre-screen of ``config.warm_start`` and return its record (what :data:`WARM_START` holds).

    ``seconds`` is all the wall time it took, loading the dataset included.
    """
    from evaluators.data import load_for_config
    from evaluators.prescreen import prescreen, prescreen_device

    settings = warm_start_settings(config.warm_start or {})
    t0 = time.perf_counter()
    data = load_for_config(config, prescreen_device(config.device))
    res = prescreen(space, config, data, proxy=settings["proxy"], samples=settings["samples"],
                    top=settings["top"])
    pool = [{"index": i, "key": a.key, "score": res.scores[i],
             **({"error": res.errors[i]} if i in res.errors else {})} for i, a in enumerate(res.archs)]
    seeds = [{"rank": r + 1, "index": i, "key": res.archs[i].key, "score": res.scores[i],
              "arch": res.archs[i].to_dict()} for r, i in enumerate(res.top)]
    return {"format": FORMAT, "created": now_iso(), "config": fingerprint(config), "proxy": res.proxy,
            "seconds": time.perf_counter() - t0, "prescreen_seconds": res.seconds,
            "n_scored": len(res.archs) - len(res.errors), "seeds": seeds, "pool": pool}


def start(record: dict[str, Any], strategy: Any, run_path: str | Path | None) -> float:
    """Record the pre-screen in ``run_path`` (if any, atomically) and seed the fresh ``strategy``.

    Returns the seconds the search counts as already elapsed.
    """
    if run_path is not None:
        atomic_write_json(Path(run_path) / WARM_START, record)
    strategy.warm_start([Architecture.from_dict(s["arch"]) for s in record["seeds"]])
    return float(record["seconds"])


def for_resume(config: SearchConfig, space: Any, strategy: Any, run_path: str | Path, has_snapshot: bool) -> float:
    """The warm start of a resumed run: see the module docstring. Returns the seconds to count."""
    if config.warm_start is None or has_snapshot:
        return 0.0
    record = read_record(run_path)
    if record is not None and record["config"] == fingerprint(config):
        return start(record, strategy, None)  # already recorded: nothing is written
    return start(compute(config, space), strategy, run_path)


def read_record(run_path: str | Path) -> dict[str, Any] | None:
    """The checked :data:`WARM_START` of a run, or None if it has none; ConfigError naming the file."""
    p = Path(run_path) / WARM_START
    if not p.exists():
        return None
    doc = parse_json_file(p, "warm-start record")

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{p}: {why}")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"not a warm-start record (field 'format' must be {FORMAT!r})")
    if not isinstance(doc.get("config"), dict):
        raise bad("field 'config' must be a JSON object")
    secs = doc.get("seconds")
    if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not math.isfinite(secs) or secs < 0:
        raise bad(f"field 'seconds' must be a number >= 0, got {secs!r}")
    seeds = doc.get("seeds")
    if not isinstance(seeds, list) or not all(isinstance(s, dict) and isinstance(s.get("arch"), dict) for s in seeds):
        raise bad("field 'seeds' must be a list of objects with an 'arch'")
    for n, s in enumerate(seeds):
        try:
            Architecture.from_dict(s["arch"])
        except (NasError, KeyError, TypeError, ValueError) as e:
            raise bad(f"seed {n + 1}: not an architecture ({type(e).__name__}: {e})"[:400]) from None
    return doc


def describe(record: dict[str, Any]) -> str:
    """One line for the search's start: what the pre-screen did."""
    cfg = record["config"]["warm_start"]
    return (f"warm start: {record['proxy']} scored {record['n_scored']} of {cfg['samples']} sampled architectures "
            f"in {record['seconds']:.1f}s; the best {len(record['seeds'])} seed the strategy")
