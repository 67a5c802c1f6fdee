"""Evaluate one proposed architecture: build it, train it with the ``search`` recipe, measure it.

This is the unit of work of every training evaluator (local in-process, Ray
workers). It never raises for a bad candidate: divergence and CUDA OOM become
``Result("failed")``, a passed ``trial_timeout`` becomes ``Result("timeout")``,
and an exception from ``space.build`` or from the model's forward pass (e.g. a
shape error) becomes ``Result("failed")`` with the exception text. A fault of the machine
(a full disk or an I/O error while writing a checkpoint or the weights) is no candidate's
failure: it raises :class:`~nas.errors.MachineFault` and the trial stays pending.

The bookkeeping every trial shares (start time, worker info, deadline, checkpoint
removal, the failure-to-result rules: :class:`TrialRecord`) and the model measurements
(:func:`size_metrics`, :func:`latency_ms`) are shared with the other trial runners of
:data:`nas.registry.TRIALS` (e.g. the one-shot search, :mod:`strategies.oneshot`); this
function is the ``train`` runner.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from evaluators.checkpoint import atomic_torch_save
from evaluators.trainer import TrainRecipe, TrialError, TrialFailed, TrialTimeout, _is_oom, train
from nas.errors import MachineFault, as_machine_fault, is_machine_fault
from nas.layout import safe_name
from nas.settings import build_settings
from nas.types import Proposal, Result

#: proposal.config keys that change the recipe; every other key is a ``build`` option.
RECIPE_KEYS = frozenset(f.name for f in dataclasses.fields(TrainRecipe))
LATENCY_REPEATS = 3
#: per-epoch columns kept in ``Result.report["history"]`` (deterministic: no wall times)
HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_acc", "val_acc")


def trial_seed(seed: int, trial_id: str) -> int:
    """A stable 31-bit seed for trial ``trial_id`` of a search seeded with ``seed``.

    Uses BLAKE2b, not Python's ``hash()``, which is salted per process.
    """
    digest = hashlib.blake2b(f"{seed}/{trial_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF


def worker_info(device: torch.device) -> dict[str, Any]:
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    return {"host": socket.gethostname(), "pid": os.getpid(), "device": name}


def set_threads(threads: int | None, device: torch.device, info: Any) -> None:
    """Set torch's CPU threads for trials: ``threads`` when given, else 1 for ``digits`` on the CPU.

    Digits models are so small that intra-op parallelism costs more than it gains
    (see :mod:`evaluators.local`); other datasets keep torch's default.
    """
    if threads is None and device.type == "cpu" and info is not None and info.family == "digits":
        threads = 1
    if threads is not None:
        torch.set_num_threads(int(threads))


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Atomically write ``model.state_dict()`` as CPU tensors (loadable with ``weights_only=True``)."""
    atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def checkpoint_path(checkpoint_dir: str | Path, trial_id: str) -> Path:
    return Path(checkpoint_dir) / f"{safe_name(trial_id)}.pt"


def input_shape(info: Any) -> tuple[int, int, int, int]:
    """The batch-1 input shape of a dataset."""
    return (1, info.in_channels, info.image_size, info.image_size)


def size_metrics(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, float]:
    """``params`` (auxiliary head excluded) and ``macs`` (batch 1); also checks that ``shape`` fits."""
    from nas.nn.measure import count_macs, count_params

    return {"params": count_params(model), "macs": count_macs(model, shape)}


def latency_ms(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """CPU latency at batch 1: the median of :data:`LATENCY_REPEATS` runs after one warm-up."""
    from nas.nn.measure import measure_latency_ms

    return measure_latency_ms(model, shape, device="cpu", warmup=1, repeats=LATENCY_REPEATS)


class TrialRecord:
    """What every trial's result shares: its start, worker, deadline and checkpoint.

    :meth:`done` makes the :class:`Result` (``cost`` = seconds since the start; with a
    checkpoint, ``worker["resumed_from_epoch"]`` = :attr:`resumed_from`) and removes the
    checkpoint: a returned result is final. :meth:`failure` turns an exception into a result.
    """

    def __init__(self, device: torch.device, config: Any, checkpoint: str | Path | None) -> None:
        self.start = time.monotonic()
        self.worker = worker_info(device)
        self.device = device
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.timeout = getattr(config, "trial_timeout", None)
        self.deadline = None if self.timeout is None else self.start + float(self.timeout)
        self.resumed_from = 0  # the checkpoint epoch training continued from
        self.keep_checkpoint = False  # a rung below the maximum budget: a promotion may continue it

    def done(self, status: str, error: str | None = None, metrics: dict[str, float] | None = None,
             report: dict[str, Any] | None = None, arch: Any = None) -> Result:
        worker = dict(self.worker)
        if self.checkpoint is not None:
            if not (self.keep_checkpoint and status == "ok"):
                self.checkpoint.unlink(missing_ok=True)
            worker["resumed_from_epoch"] = self.resumed_from
        return Result(status, metrics or {}, error, worker, report or {},  # type: ignore[arg-type]
                      cost=time.monotonic() - self.start, arch=arch)

    def failure(self, e: Exception, metrics: dict[str, float] | None = None,
                report: dict[str, Any] | None = None) -> Result:
        """``timeout`` for :class:`TrialTimeout`, else ``failed`` (OOM named; other errors with a traceback).

        A machine fault (:func:`nas.errors.is_machine_fault`: a checkpoint or weights write that
        hit a full disk, an I/O error) is not the candidate's failure: it is re-raised as
        :class:`~nas.errors.MachineFault`, no result is made and the checkpoint stays.
        """
        if is_machine_fault(e):
            raise as_machine_fault(e) from (None if isinstance(e, MachineFault) else e)
        if isinstance(e, TrialError):
            self.resumed_from = e.resumed_from
        if isinstance(e, TrialTimeout):
            return self.done("timeout", f"trial_timeout of {self.timeout:g}s exceeded: {e}", metrics, report)
        if isinstance(e, TrialFailed):
            return self.done("failed", str(e), metrics, report)
        if _is_oom(e):
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            return self.done("failed", f"out of memory: {str(e).splitlines()[0]}", metrics, report)
        tb = "".join(traceback.format_exception(e)[-12:])
        return self.done("failed", f"{type(e).__name__}: {e}", metrics, {"traceback": tb, **(report or {})})


def evaluate_candidate(
    space: Any,
    proposal: Proposal,
    config: Any,
    data: Any,
    *,
    device: torch.device | str,
    checkpoint_dir: str | Path | None = None,
    weights_path: str | Path | None = None,
) -> Result:
    """Train and measure ``proposal.arch``; see the module docstring for failure handling.

    Metrics: ``val_acc`` (percent, after the last epoch), ``params`` (excluding
    an auxiliary head), ``macs`` (batch 1), ``latency_ms`` (CPU, batch 1, median
    of 3), ``train_seconds`` and ``epochs``. With ``checkpoint_dir`` the trial
    checkpoints every epoch and a re-run of the same proposal continues from the
    last finished epoch (``worker["resumed_from_epoch"]``; a checkpoint written with
    other settings, or unreadable, is discarded); the checkpoint is removed once a
    result is returned, except after an ok rung below the maximum budget.

    Fidelity (``proposal.budget``, Li et al., JMLR 2018): training stops after ``budget``
    epochs of the recipe's schedule (``epochs``, the maximum budget) and the checkpoint is
    kept, so that a promotion (a proposal of the same ``lineage`` with a higher budget)
    continues from it: seed and checkpoint are the lineage's (:attr:`Proposal.trial`), and the
    promoted model is exactly the one trained straight to the higher budget (CPU). With
    ``weights_path`` the trained ``state_dict`` (CPU tensors)
    of an ok trial is written there atomically, for ``nas export``.
    """
    device = torch.device(device)
    ckpt = checkpoint_path(checkpoint_dir, proposal.trial) if checkpoint_dir is not None else None
    trial = TrialRecord(device, config, ckpt)
    if proposal.arch is None:
        return trial.done("failed", f"proposal has no architecture to train (runner {proposal.runner!r})")
    info = data.info
    seed = trial_seed(config.seed, proposal.trial)
    overrides = dict(proposal.config)
    shape = input_shape(info)
    try:
        recipe = TrainRecipe.from_config(config, **{k: v for k, v in overrides.items() if k in RECIPE_KEYS})
    except Exception as e:  # noqa: BLE001 - e.g. epochs=0 in proposal.config
        return trial.done("failed", f"bad trial settings: {e}")
    budget = proposal.budget
    if budget is not None and not 1 <= budget <= recipe.epochs:
        return trial.done("failed", f"bad trial settings: budget {budget} is not in 1..{recipe.epochs} epochs")
    trial.keep_checkpoint = budget is not None and budget < recipe.epochs
    try:
        torch.manual_seed(seed)  # deterministic initial weights
        model = space.build(proposal.arch, **build_settings(space, info, config, overrides, exclude=RECIPE_KEYS))
        size = size_metrics(model, shape)  # count_macs also checks the shapes
    except Exception as e:  # noqa: BLE001 - any build error is this candidate's failure
        if is_machine_fault(e):
            raise as_machine_fault(e) from e
        return trial.done("failed", f"build failed: {type(e).__name__}: {e}")
    if getattr(config, "proxies", None):  # zero-cost proxies on one minibatch, before training
        from evaluators.proxies import proxy_metrics

        size.update(proxy_metrics(space, proposal.arch, build_settings(space, info, config, overrides,
                                                                       exclude=RECIPE_KEYS),
                                  config.proxies, data, config.batch_size, config.seed, seed))
    try:
        outcome = train(model, data, recipe, device=device, seed=seed, deadline=trial.deadline, checkpoint=ckpt,
                        discard_stale=True, stop_at=budget)
        trial.resumed_from = outcome.resumed_from
        latency = latency_ms(model, shape)
    except Exception as e:  # noqa: BLE001 - e.g. a shape error in forward: the candidate fails, not the search
        return trial.failure(e, dict(size))
    if weights_path is not None:
        save_weights(model, weights_path)
    metrics = {
        "val_acc": outcome.final_val_acc,
        **size,
        "latency_ms": latency,
        "train_seconds": outcome.train_seconds,
        "epochs": outcome.epochs,
    }
    return trial.done("ok", None, metrics, {"history": [{k: row[k] for k in HISTORY_KEYS if k in row}
                                                        for row in outcome.history]})
