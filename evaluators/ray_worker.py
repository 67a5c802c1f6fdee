"""What runs inside a Ray worker process for the ``ray`` evaluator.

The driver ships only plain data per trial (the proposal dict, the config dict and a few
settings: :func:`run_trial`'s ``payload``); the worker rebuilds the space from its name and
loads the dataset itself, once per worker process (:data:`_DATA` cache; CPU workers are
reused by Ray across trials, GPU trial workers are not: see :mod:`evaluators.ray`).

Each result carries, in ``Result.worker``, where the trial ran (Ray node id and ip, GPU ids,
host, pid, device) and ``resumed_from_epoch``: the epoch of the per-epoch checkpoint the trial
continued from (0 = from scratch; reported by the trial runner itself, e.g.
:func:`~evaluators.candidate.evaluate_candidate`, 0 for functions that report none), which
shows that a trial re-run after a node or driver failure did not start over.
"""
from __future__ import annotations

import importlib
import json
import os
import socket
import time
from typing import Any, Callable

#: per-process caches: dataset bundles, spaces, evaluation functions
_DATA: dict[tuple[Any, ...], Any] = {}
_SPACES: dict[str, Any] = {}
_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def _function(target: str) -> Callable[..., Any]:
    fn = _FUNCTIONS.get(target)
    if fn is None:
        module, _, attr = target.partition(":")
        fn = _FUNCTIONS[target] = getattr(importlib.import_module(module), attr)
    return fn


def _runner(name: str) -> Callable[..., Any]:
    """The trial runner ``name`` of :data:`nas.registry.TRIALS` (plugins loaded first)."""
    from nas.registry import TRIALS, load_plugins

    load_plugins()
    return TRIALS.get(name)


def _space(config: Any) -> Any:
    """The space of a trial's config, made once per worker process (a space defined by data,
    e.g. a space file, comes from the config's ``space_definition``: workers need no file)."""
    key = f"{config.space} {json.dumps(config.space_definition, sort_keys=True)}"
    if key not in _SPACES:
        from nas.config import create_space

        _SPACES[key] = create_space(config)
    return _SPACES[key]


def _data(config: Any, device: Any) -> Any:
    """The dataset on ``device``, loaded at most once per worker process."""
    key = (config.dataset, config.data_dir, config.download, config.seed, str(device))
    if key not in _DATA:
        from evaluators.data import load_for_config

        _DATA.clear()  # one dataset per worker: a new search's data replaces the old
        _DATA[key] = load_for_config(config, device)
    return _DATA[key]


def ray_context() -> dict[str, Any]:
    """Node id, node ip and GPU ids of the Ray task running in this process."""
    import ray

    ctx = ray.get_runtime_context()
    try:
        gpus = [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])]
    except Exception:  # noqa: BLE001 - older Ray: fall back to the GPU-only call
        gpus = [str(g) for g in ray.get_gpu_ids()]
    return {"node_id": ctx.get_node_id(), "node_ip": ray.util.get_node_ip_address(), "gpu_ids": gpus,
            "host": socket.gethostname(), "pid": os.getpid()}


def run_trial(payload: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one proposal on this worker; returns ``Result.to_dict()``.

    ``payload``: ``proposal`` (``Proposal.to_dict()``), ``config`` (``SearchConfig.to_dict()``),
    ``device`` (``cpu`` | ``cuda``: the GPU(s) Ray assigned), ``checkpoint_dir`` (or None),
    ``weights_path`` (where an ok trial's trained weights go, or None: not passed on),
    ``threads`` (or None), ``evaluate`` (``module:function`` with the signature of
    :func:`~evaluators.candidate.evaluate_candidate`; default: the trial runner named by the
    proposal's ``runner``, :data:`nas.registry.TRIALS`) and
    ``evaluate_kwargs``. Bad candidates come back as failed results (never retried); only
    system failures (a dead worker or node) make Ray retry the task.
    """
    import torch

    from evaluators.candidate import set_threads
    from nas.config import SearchConfig
    from nas.types import Proposal, Result

    where = ray_context()
    proposal = Proposal.from_dict(payload["proposal"])
    config = SearchConfig.from_dict(payload["config"], where="ray trial config")
    fn = _function(payload["evaluate"]) if payload.get("evaluate") else _runner(proposal.runner)
    if payload["device"] == "cuda":
        if not torch.cuda.is_available():
            return Result("failed", error=f"Ray assigned GPU(s) {where['gpu_ids']} on node {where['node_ip']}, "
                                          "but CUDA is not available in the worker", worker=where).to_dict()
        device = torch.device("cuda")  # Ray sets CUDA_VISIBLE_DEVICES: cuda:0 is the assigned GPU
    else:
        device = torch.device("cpu")
    data = _data(config, device) if getattr(fn, "needs_data", True) else None
    set_threads(payload.get("threads"), device, None if data is None else data.info)
    kwargs = dict(payload.get("evaluate_kwargs") or {})
    if payload.get("weights_path"):
        kwargs["weights_path"] = payload["weights_path"]
    result = fn(_space(config), proposal, config, data, device=device,
                checkpoint_dir=payload.get("checkpoint_dir"), **kwargs)
    result.worker = {"resumed_from_epoch": 0, **result.worker, **where}
    return result.to_dict()


def probe_data(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Load the dataset on a worker (CPU) and report its shape: the start-up data check."""
    from nas.config import SearchConfig

    config = SearchConfig.from_dict(config_dict, where="ray probe config")
    import torch

    data = _data(config, torch.device("cpu"))
    return {"dataset": data.info.name, "sizes": data.sizes, **ray_context()}


def sleep_candidate(space: Any, proposal: Any, config: Any, data: Any, *, device: Any,
                    checkpoint_dir: Any = None, weights_path: Any = None, seconds: float = 0.1) -> Any:
    """A trivial candidate for benchmarks: sleep ``seconds`` and score the arch key.

    Goes through the same task path as real trials (payload, worker, result), without
    data or training, so that wall time minus ``seconds`` is pure scheduling overhead.
    """
    from nas.types import Result

    t0 = time.monotonic()
    time.sleep(seconds)
    key = "" if proposal.arch is None else proposal.arch.spec
    score = (sum(map(ord, str(key))) % 1000) / 10.0
    return Result("ok", {"val_acc": score, "epochs": 0}, None, {"device": str(device)},
                  cost=time.monotonic() - t0)


sleep_candidate.needs_data = False  # type: ignore[attr-defined]
