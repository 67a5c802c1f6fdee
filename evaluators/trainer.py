"""The training recipe (:class:`TrainRecipe`) and loop (:func:`train`) for one model.

The loop follows quark0/darts ``train.py`` (Liu et al., ICLR 2019, App. A.2): SGD with
momentum and weight decay, ``CosineAnnealingLR(T_max=epochs, eta_min)`` stepped
once per epoch, gradient-norm clipping, ``loss = CE + w·CE_aux`` when the model
returns ``(logits, logits_aux)`` in training mode, and the linear drop-path ramp
``model.drop_path_prob = p · epoch / epochs`` set at the start of every epoch.

Named presets (:data:`RECIPES`):

* ``search`` — the short proxy run of a search: SGD **Nesterov** momentum 0.9
  (as in the NAS-Bench-201 protocol, Dong & Yang, ICLR 2020), cosine LR to 0, weight
  decay; epochs/batch/lr/... come from :class:`~nas.config.SearchConfig`.
* ``full`` — DARTS CIFAR evaluation (Liu et al. 2019, App. A.2): 600 epochs, batch 96,
  lr 0.025 cosine to 0, momentum 0.9, wd 3e-4, grad clip 5, auxiliary weight 0.4,
  cutout 16, drop path 0.2. ``nesterov=False`` because quark0's ``train.py``
  builds plain-momentum SGD.

On CUDA the forward pass runs under bf16 autocast with channels-last tensors
(no loss scaling is needed for bf16); on CPU everything is fp32 and, for a fixed
seed, bit-for-bit reproducible, including across a checkpoint/resume.
"""
from __future__ import annotations

import csv
import io
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from evaluators.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from nas.errors import ConfigError
from nas.io import atomic_write_text

#: on CUDA the loss is checked for NaN/inf every this many steps (and at epoch end).
CUDA_FINITE_CHECK_EVERY = 50
#: the :class:`TrainRecipe` fields a search config sets (:meth:`TrainRecipe.from_config`)
SEARCH_FIELDS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "grad_clip")


class TrialError(Exception):
    """Base of the two ways a trial ends without a result (never a user error).

    ``resumed_from`` is the checkpoint epoch the failed training had continued from (0: from scratch).
    """

    resumed_from: int = 0


class TrialFailed(TrialError):
    """Training diverged (NaN/inf loss) or ran out of memory; the message says which."""


class TrialTimeout(TrialError):
    """Training went past its deadline."""


class StopTraining(Exception):
    """Raise from ``on_epoch`` to end training after the current epoch (checkpoint kept)."""


@dataclass
class TrainRecipe:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-4
    grad_clip: float = 5.0        # max global grad norm; 0 disables clipping
    eta_min: float = 0.0
    auxiliary_weight: float = 0.0
    drop_path: float = 0.0
    cutout: int = 0               # 0 = the data's own setting
    label_smoothing: float = 0.0
    amp: bool = True              # bf16 autocast, CUDA only
    channels_last: bool = True    # CUDA only

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"recipe: epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        for name in ("lr", "momentum", "weight_decay", "grad_clip", "eta_min", "auxiliary_weight"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"recipe: {name} must be a finite number >= 0, got {v}")
        if not 0.0 <= self.drop_path < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("recipe: drop_path and label_smoothing must be in [0, 1)")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "TrainRecipe":
        """A named recipe (``search`` or ``full``) with field overrides."""
        if name not in RECIPES:
            raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
        bad = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if bad:
            raise ConfigError(f"recipe {name!r}: unknown field(s) {', '.join(bad)}")
        return cls(**{**RECIPES[name], **overrides})

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> "TrainRecipe":
        """The ``search`` recipe with the training fields of a ``SearchConfig`` (:data:`SEARCH_FIELDS`)."""
        return cls.preset("search", **{**{k: getattr(config, k) for k in SEARCH_FIELDS}, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECIPES: dict[str, dict[str, Any]] = {
    "search": {"nesterov": True, "eta_min": 0.0},
    "full": {
        "epochs": 600, "batch_size": 96, "lr": 0.025, "momentum": 0.9, "nesterov": False,
        "weight_decay": 3e-4, "grad_clip": 5.0, "eta_min": 0.0, "auxiliary_weight": 0.4,
        "cutout": 16, "drop_path": 0.2,
    },
}


@dataclass
class TrainOutcome:
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (see CSV columns)
    train_seconds: float = 0.0
    stopped: bool = False          # ended early by StopTraining
    resumed_from: int = 0          # the checkpoint epoch training continued from (0: from scratch)

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def val_acc(self) -> list[float]:
        return [row["val_acc"] for row in self.history]

    @property
    def final_val_acc(self) -> float:
        return self.history[-1]["val_acc"] if self.history else float("nan")

    @property
    def best_val_acc(self) -> float:
        return max(self.val_acc) if self.history else float("nan")

    @property
    def loss(self) -> float:
        return self.history[-1]["train_loss"] if self.history else float("nan")


CSV_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_acc", "seconds")


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """``auto`` → ``cuda`` if available else ``cpu``; CUDA asked for but absent → ConfigError."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec or "auto"
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {spec!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} was requested but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {spec!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e)
    )


def _split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


@torch.no_grad()
def evaluate(model: nn.Module, source: Any, *, device: torch.device | str, batch_size: int = 512,
             amp: bool = True, channels_last: bool = True) -> float:
    """Top-1 accuracy (percent) of ``model`` on a batch source, in eval mode."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    for x, y in source.batches(batch_size):
        if cuda and channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and amp):
            logits, _ = _split_output(model(x))
        correct += (logits.argmax(1) == y).sum()
        total += y.shape[0]
    return 100.0 * correct.item() / max(total, 1)


def train(
    model: nn.Module,
    data: Any,
    recipe: TrainRecipe,
    *,
    device: torch.device | str,
    seed: int,
    deadline: float | None = None,
    checkpoint: str | Path | None = None,
    discard_stale: bool = False,
    start_epoch: int = 0,
    stop_at: int | None = None,
    on_epoch: Callable[[dict[str, float]], Any] | None = None,
    log_csv: str | Path | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``data.train``, validating on ``data.val`` after every epoch.

    ``deadline`` is a ``time.monotonic()`` value checked every step
    (:class:`TrialTimeout`). A NaN/inf loss or CUDA OOM raises :class:`TrialFailed`.
    With ``checkpoint`` the full training state is saved atomically after each
    epoch and training resumes from it when the file exists (then ``start_epoch``
    is ignored; otherwise it positions the LR schedule and drop-path ramp); a checkpoint
    written with another recipe or seed is a ConfigError, or with ``discard_stale`` deleted
    (training starts over). ``outcome.resumed_from`` (and ``resumed_from`` of a raised
    :class:`TrialError`) is the epoch it resumed from.
    ``on_epoch(row)`` is called after each epoch; it may raise :class:`StopTraining`.

    ``stop_at`` (a rung of a multi-fidelity search) ends training after that many epochs of
    the schedule of ``recipe.epochs`` (the maximum budget). Continuing the checkpoint later
    with a higher ``stop_at`` gives bit-for-bit (CPU) the model trained straight to it: the
    checkpoint holds the optimizer, scheduler and RNG states. A checkpoint already past
    ``stop_at`` cannot be rewound and is ignored (training starts over).
    """
    device = torch.device(device)
    torch.manual_seed(seed)  # drop-path masks and dropout draw from the global generator
    gen = torch.Generator().manual_seed(seed)  # shuffling and augmentation
    cuda = device.type == "cuda"
    model.to(device)
    if cuda and recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                          nesterov=recipe.nesterov and recipe.momentum > 0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs, eta_min=recipe.eta_min)
    outcome = TrainOutcome()
    epoch = start_epoch
    state = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, recipe, seed, discard_stale=discard_stale)
    end = recipe.epochs if stop_at is None else min(int(stop_at), recipe.epochs)
    if state is not None and int(state["epoch"]) > end:
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], gen, device)
        epoch = outcome.resumed_from = int(state["epoch"])
        outcome.history = [dict(r) for r in state["history"]]
        outcome.train_seconds = float(state["train_seconds"])
    else:
        for _ in range(start_epoch):  # position the schedule without training
            opt.step()  # no gradients yet: a no-op that keeps the scheduler's order check quiet
            sched.step()

    crit = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    oom: str | None = None
    try:
        while epoch < end:
            t0 = time.perf_counter()
            lr = opt.param_groups[0]["lr"]
            if recipe.drop_path > 0 and hasattr(model, "drop_path_prob"):
                model.drop_path_prob = recipe.drop_path * epoch / recipe.epochs
            loss, acc = _train_epoch(model, data.train, recipe, opt, crit, params, gen, device, epoch, deadline)
            sched.step()
            val = _validate(model, data.val, recipe, device, deadline, epoch)
            seconds = time.perf_counter() - t0
            outcome.train_seconds += seconds
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_acc": acc, "val_acc": val,
                   "seconds": seconds}
            outcome.history.append(row)
            epoch += 1
            if checkpoint is not None:
                save_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched, epoch=epoch,
                                generator=gen, device=device, history=outcome.history,
                                train_seconds=outcome.train_seconds, recipe=recipe, seed=seed)
            if log_csv is not None:
                write_csv(log_csv, outcome.history)
            if on_epoch is not None:
                try:
                    on_epoch(dict(row))
                except StopTraining:
                    outcome.stopped = True
                    break
    except RuntimeError as e:
        if not _is_oom(e):
            raise
        oom = str(e).splitlines()[0]  # leave the except block first so the failed step's tensors are freed
    except TrialError as e:
        e.resumed_from = outcome.resumed_from
        raise
    if oom is not None:
        if cuda:
            torch.cuda.empty_cache()
        err = TrialFailed(f"out of memory at epoch {epoch + 1}: {oom}")
        err.resumed_from = outcome.resumed_from
        raise err
    return outcome


def _train_epoch(model: nn.Module, source: Any, recipe: TrainRecipe, opt: torch.optim.Optimizer,
                 crit: nn.Module, params: list[torch.Tensor], gen: torch.Generator, device: torch.device,
                 epoch: int, deadline: float | None) -> tuple[float, float]:
    """One pass over the training split; returns (mean loss, accuracy %)."""
    cuda = device.type == "cuda"
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    seen = step = 0
    for step, (x, y) in enumerate(source.batches(recipe.batch_size, shuffle=True, generator=gen,
                                                 cutout=recipe.cutout or None), start=1):
        if deadline is not None and time.monotonic() > deadline:
            raise TrialTimeout(f"deadline reached at epoch {epoch + 1} step {step}")
        if cuda and recipe.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and recipe.amp):
            logits, aux = _split_output(model(x))
            loss = crit(logits, y)
            if aux is not None and recipe.auxiliary_weight > 0:
                loss = loss + recipe.auxiliary_weight * crit(aux, y)
        if cuda:  # no host sync per step: accumulate and look every k steps
            finite &= torch.isfinite(loss.detach())
            if step % CUDA_FINITE_CHECK_EVERY == 0 and not finite:
                raise TrialFailed(f"diverged: loss is not finite at epoch {epoch + 1} step {step}")
        elif not torch.isfinite(loss):
            raise TrialFailed(f"diverged: loss is {loss.item()} at epoch {epoch + 1} step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, recipe.grad_clip)
        opt.step()
        n = y.shape[0]
        loss_sum += loss.detach().float() * n
        correct += (logits.detach().argmax(1) == y).sum()
        seen += n
    if cuda and not finite:
        raise TrialFailed(f"diverged: loss is not finite at epoch {epoch + 1} (by step {step})")
    if seen == 0:
        raise TrialFailed("the training split yields no batches")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen


def _validate(model: nn.Module, source: Any, recipe: TrainRecipe, device: torch.device,
                         deadline: float | None, epoch: int) -> float:
    if deadline is not None and time.monotonic() > deadline:
        raise TrialTimeout(f"deadline reached after training epoch {epoch + 1}, before validation")
    return evaluate(model, source, device=device, batch_size=max(256, recipe.batch_size),
                    amp=recipe.amp, channels_last=recipe.channels_last)


def write_csv(path: str | Path, history: list[dict[str, float]]) -> None:
    """Rewrite the per-epoch log atomically from the whole history (exact across resumes)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: row[k] for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())
