"""Evaluate one proposed architecture: build it, train it with the ``search`` recipe, measure it.

This is the unit of work of every training evaluator (local in-process, Ray
workers). It never raises for a bad candidate: divergence and CUDA OOM become
``Result("failed")``, a passed ``trial_timeout`` becomes ``Result("timeout")``,
and an exception from ``space.build`` or from the model's forward pass (e.g. a
shape error) becomes ``Result("failed")`` with the exception text (DESIGN §3).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from evaluators.checkpoint import load_checkpoint
from evaluators.trainer import TrainRecipe, TrialFailed, TrialTimeout, train
from nas.errors import ConfigError
from nas.io import atomic_write_bytes
from nas.rundir import safe_name
from nas.types import Proposal, Result

#: proposal.config keys that change the recipe; every other key is a ``build`` option.
RECIPE_KEYS = frozenset(f.name for f in dataclasses.fields(TrainRecipe))
LATENCY_REPEATS = 3


def trial_seed(seed: int, trial_id: str) -> int:
    """A stable 31-bit seed for trial ``trial_id`` of a search seeded with ``seed``.

    Uses BLAKE2b, not Python's ``hash()``, which is salted per process.
    """
    digest = hashlib.blake2b(f"{seed}/{trial_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF


def build_kwargs(space: Any, info: Any, config: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``space.build_defaults[info.family]`` < ``config.channels/layers`` < proposal overrides.

    A one-shot proposal's config (``one_shot`` set) holds search settings, not build options.
    """
    if overrides and overrides.get("one_shot"):
        overrides = None
    kwargs = dict(getattr(space, "build_defaults", {}).get(info.family, {}))
    for key in ("channels", "layers"):
        if getattr(config, key, None) is not None:
            kwargs[key] = getattr(config, key)
    kwargs.update({k: v for k, v in (overrides or {}).items() if k not in RECIPE_KEYS})
    return kwargs


def worker_info(device: torch.device) -> dict[str, Any]:
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    return {"host": socket.gethostname(), "pid": os.getpid(), "device": name}


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Atomically write ``model.state_dict()`` as CPU tensors (loadable with ``weights_only=True``)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    atomic_write_bytes(path, buf.getvalue())


def checkpoint_path(checkpoint_dir: str | Path, trial_id: str) -> Path:
    return Path(checkpoint_dir) / f"{safe_name(trial_id)}.pt"


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
    last finished epoch; the checkpoint is removed once a result is returned.
    With ``weights_path`` the trained ``state_dict`` (CPU tensors) of an ok trial is
    written there atomically, for ``nas export``.
    """
    start = time.monotonic()
    device = torch.device(device)
    worker = worker_info(device)
    ckpt = checkpoint_path(checkpoint_dir, proposal.id) if checkpoint_dir is not None else None

    def done(status: str, error: str | None = None, metrics: dict[str, float] | None = None,
             report: dict[str, Any] | None = None) -> Result:
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)
        return Result(status, metrics or {}, error, worker, report or {}, cost=time.monotonic() - start)  # type: ignore[arg-type]

    if proposal.arch is None:
        if proposal.config.get("one_shot") == "darts":  # a whole DARTS search (weights_path: n/a)
            from evaluators.oneshot import run_darts

            return run_darts(space, proposal, config, data, device=device, checkpoint=ckpt)
        return done("failed", "proposal has no architecture (one-shot proposals need their own evaluator)")
    info = data.info
    deadline = None if config.trial_timeout is None else start + float(config.trial_timeout)
    seed = trial_seed(config.seed, proposal.id)
    overrides = dict(proposal.config)
    shape = (1, info.in_channels, info.image_size, info.image_size)
    try:
        recipe = TrainRecipe.from_config(config, **{k: v for k, v in overrides.items() if k in RECIPE_KEYS})
    except Exception as e:  # noqa: BLE001 - e.g. epochs=0 in proposal.config
        return done("failed", f"bad trial settings: {e}")
    try:
        torch.manual_seed(seed)  # deterministic initial weights
        model = space.build(proposal.arch, in_channels=info.in_channels, num_classes=info.num_classes,
                            **build_kwargs(space, info, config, overrides))
        from nas.nn.measure import count_macs, count_params, measure_latency_ms

        params, macs = count_params(model), count_macs(model, shape)  # count_macs also checks the shapes
    except Exception as e:  # noqa: BLE001 - any build error is this candidate's failure
        return done("failed", f"build failed: {type(e).__name__}: {e}")
    if ckpt is not None and ckpt.exists():
        try:
            load_checkpoint(ckpt, recipe, seed)
        except ConfigError:  # stale (other settings, e.g. a search resumed with --force) or unreadable
            ckpt.unlink(missing_ok=True)
    try:
        outcome = train(model, data, recipe, device=device, seed=seed, deadline=deadline, checkpoint=ckpt)
        latency = measure_latency_ms(model, shape, device="cpu", warmup=1, repeats=LATENCY_REPEATS)
    except TrialFailed as e:
        return done("failed", str(e), {"params": params, "macs": macs})
    except TrialTimeout as e:
        return done("timeout", f"trial_timeout of {config.trial_timeout:g}s exceeded: {e}",
                    {"params": params, "macs": macs})
    except Exception as e:  # noqa: BLE001 - e.g. a shape error in forward: the candidate fails, not the search
        tb = "".join(traceback.format_exception(e)[-12:])
        return done("failed", f"{type(e).__name__}: {e}", {"params": params, "macs": macs}, {"traceback": tb})
    if weights_path is not None:
        save_weights(model, weights_path)
    metrics = {
        "val_acc": outcome.final_val_acc,
        "params": params,
        "macs": macs,
        "latency_ms": latency,
        "train_seconds": outcome.train_seconds,
        "epochs": outcome.epochs,
    }
    return done("ok", None, metrics)
