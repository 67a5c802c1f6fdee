"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, optimizer and LR-scheduler state dicts, the next
epoch, the RNG states (torch CPU, CUDA when used, and the data generator, all as
uint8 tensors), the per-epoch history and the training seconds so far, plus the
recipe and seed that produced it. It is written with ``torch.save`` into memory
and then atomically (temp file + fsync + ``os.replace``, :mod:`nas.io`), and read
back with ``torch.load(weights_only=True)``: only tensors and plain data, never
arbitrary pickles.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from nas.errors import ConfigError
from nas.io import atomic_write_bytes

FORMAT = "nas/train-checkpoint@1"


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
    rng = {"torch": torch.get_rng_state(), "data": generator.get_state(), "cuda": None}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng,
        "history": [dict(r) for r in history],
        "train_seconds": float(train_seconds),
        "recipe": recipe.to_dict(),
        "seed": int(seed),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, recipe: Any, seed: int) -> dict[str, Any] | None:
    """The saved state, or ``None`` if ``path`` does not exist.

    A checkpoint written by a different recipe or seed is refused
    (:class:`ConfigError` naming the first differing field): continuing it would
    silently mix two trainings.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unreadable for whatever reason
        raise ConfigError(f"{path}: unreadable training checkpoint ({type(e).__name__}); "
                          "delete it to start training over") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a nas training checkpoint ({FORMAT}); delete it to start over")
    saved, now = state["recipe"], recipe.to_dict()
    for key in now:
        if saved.get(key) != now[key]:
            raise ConfigError(f"{path}: checkpoint was written with {key}={saved.get(key)!r}, "
                              f"this run uses {key}={now[key]!r}; use the same settings or delete it")
    if state["seed"] != seed:
        raise ConfigError(f"{path}: checkpoint was written with seed {state['seed']}, this run uses {seed}")
    return state
