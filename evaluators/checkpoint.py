"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, optimizer and LR-scheduler state dicts, the next
epoch, the RNG states (torch CPU, CUDA when used, and the data generator, all as
uint8 tensors), the per-epoch history and the training seconds so far, plus the
recipe and seed that produced it. It is written with ``torch.save`` into memory
and then atomically (temp file + fsync + ``os.replace``, :mod:`nas.io`), and read
back with ``torch.load(weights_only=True)``: only tensors and plain data, never
arbitrary pickles.

The helpers below are shared by both trainers (:func:`evaluators.trainer.train` and the
one-shot searches of :mod:`strategies.oneshot`): :func:`atomic_torch_save` (also used for every
``weights.pt``), :func:`rng_state` / :func:`restore_rng`, and :func:`save_state` /
:func:`read_state`, which tag a state dict with a format string and check it on reading.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from nas.errors import ConfigError
from nas.io import atomic_write_bytes

FORMAT = "nas/train-checkpoint@1"


# -- shared helpers ------------------------------------------------------------------------------
def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` into memory, then written atomically (a reader never sees a torn file)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    """The torch CPU, data-generator and (on CUDA) device RNG states, for a checkpoint."""
    return {"torch": torch.get_rng_state(), "data": generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_rng(rng: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    """Set the RNG states saved by :func:`rng_state` (the CUDA one only when training on CUDA)."""
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["data"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)


def save_state(path: str | Path, fmt: str, state: dict[str, Any]) -> None:
    """Atomically write ``state`` tagged with ``"format": fmt``."""
    atomic_torch_save({"format": fmt, **state}, path)


def read_state(path: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """The state at ``path`` (``weights_only``); :class:`ConfigError` if unreadable or not ``fmt``.

    ``what`` names the kind of file in the messages (e.g. ``training checkpoint``).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unreadable for whatever reason
        raise ConfigError(f"{path}: unreadable {what} ({type(e).__name__}); "
                          "delete it to start training over") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise ConfigError(f"{path}: not a nas {what} ({fmt}); delete it to start over")
    return state


# -- training checkpoints ------------------------------------------------------------------------
def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    generator: torch.Generator,
    device: torch.device,
    history: list[dict[str, float]],
    train_seconds: float,
    recipe: Any,
    seed: int,
) -> None:
    save_state(path, FORMAT, {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(generator, device),
        "history": [dict(r) for r in history],
        "train_seconds": float(train_seconds),
        "recipe": recipe.to_dict(),
        "seed": int(seed),
    })


def load_checkpoint(path: str | Path, recipe: Any, seed: int, *,
                    discard_stale: bool = False) -> dict[str, Any] | None:
    """The saved state, or ``None`` if ``path`` does not exist.

    A checkpoint written by a different recipe or seed is refused
    (:class:`ConfigError` naming the first differing field): continuing it would
    silently mix two trainings. With ``discard_stale`` such a checkpoint, or an
    unreadable one, is deleted instead and ``None`` returned (a search trial then
    starts over, e.g. after a resume with ``--force``).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return _checked(path, read_state(path, FORMAT, "training checkpoint"), recipe, seed)
    except ConfigError:
        if not discard_stale:
            raise
        path.unlink(missing_ok=True)
        return None


def _checked(path: Path, state: dict[str, Any], recipe: Any, seed: int) -> dict[str, Any]:
    saved, now = state["recipe"], recipe.to_dict()
    for key in now:
        if saved.get(key) != now[key]:
            raise ConfigError(f"{path}: checkpoint was written with {key}={saved.get(key)!r}, "
                              f"this run uses {key}={now[key]!r}; use the same settings or delete it")
    if state["seed"] != seed:
        raise ConfigError(f"{path}: checkpoint was written with seed {state['seed']}, this run uses {seed}")
    return state
