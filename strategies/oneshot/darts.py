"""DARTS as a one-shot method (Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019).

The trial (:meth:`Darts.run`) is the search loop of the paper's released ``train_search.py``:

* The training split is halved (``train_portion`` 0.5, a seeded permutation): the first part
  trains the weights, the second the architecture parameters α. The validation split is not
  touched by the search.
* Each step: the architecture step (:class:`strategies.oneshot.architect.Architect`, first or
  second order, §2.3) on a random minibatch of the α half (a fresh shuffled draw per step, as the
  code's ``next(iter(valid_queue))``: the batch source's ``sample``), then the SGD weight step
  (momentum 0.9, weight decay 3e-4, gradient norm clip 5, no Nesterov) on the next batch of the
  weight half.
* Weight lr: ``CosineAnnealingLR(T_max=epochs, eta_min=w_lr_min)``, 0.025 → 0.001 (the paper
  anneals to zero, the code to 0.001; we follow the code); ξ of the second-order step is the
  current lr.
* α: Adam(lr 3e-4, betas (0.5, 0.999), weight decay 1e-3).

Options (:data:`DEFAULTS`, the released code's values under khanrc/pt.darts' names; the code's
names are learning_rate, learning_rate_min, momentum, weight_decay, grad_clip, arch_learning_rate,
arch_weight_decay, train_portion, --unrolled): ``order`` (1 = first order, ξ = 0; 2 = second
order), ``w_lr``, ``w_lr_min``, ``w_momentum``, ``w_weight_decay``, ``w_grad_clip``, ``alpha_lr``,
``alpha_weight_decay``, ``train_portion`` and ``alpha_init`` (``randn`` = the code's 1e-3·randn,
``zeros`` = the paper's zero initialisation, App. A.1.1). Epochs and batch size come from the
search config; the supernet's size from the space (:meth:`SearchSpace.supernet_settings`: its
defaults, e.g. C=16, 8 cells, then ``--channels``/``--layers``). Training is fp32 on every device
(no autocast): the finite difference of the second-order step needs the precision.

After every epoch the full state (weights + α, both optimizers, the scheduler, the epoch, the torch
and data RNG states, the history) is saved atomically to the trial's checkpoint and a re-run of the
same proposal continues from it (``torch.load(weights_only=True)``); a checkpoint written with other
settings is discarded. The checkpoint is removed once a result is returned;
``worker["resumed_from_epoch"]`` is the epoch the search continued from.

The result: ``status ok``; ``metrics`` = ``val_acc`` of the supernet on the validation split
(BatchNorm with batch statistics, as the paper's search does, App. A.1.1), ``params``/``macs``/
``latency_ms`` of the *derived* evaluation network (built by the space with the search's build
settings, e.g. C=36, 20 cells for CIFAR), ``train_seconds``, ``epochs`` and ``supernet_params``;
``arch`` = the derived architecture (:meth:`OneShotMethod.derive`); ``report["history"]`` has one
row per epoch (lr, loss, accuracies, the derived architecture's key and text) plus the collapse
diagnostics (:meth:`OneShotMethod.diagnose`: parameter-free share, α entropy, the dominant Hessian
eigenvalue every ``hessian_every`` epochs, RobustDARTS, Zela et al., ICLR 2020). A NaN/inf loss or
running out of memory gives ``failed``; passing ``trial_timeout`` gives ``timeout``.

Shared options (:data:`strategies.oneshot.base.DIAGNOSTIC_DEFAULTS`): ``hessian_every``,
``hessian_iters``, ``guards`` (``skip_cap``: P-DARTS' cap of M=2 skips, Chen et al., ICCV 2019;
``early_stop``: DARTS-ES, window 5, ratio 0.75, which returns the architecture of 5 epochs before;
:mod:`strategies.oneshot.guards`) and ``table`` (NAS-Bench-201 lookups of the derived cell, for
spaces that write NB201 strings: ``metrics["table_..."]`` and ``report["table_lookup"]``, labelled
as CIFAR-10 table numbers, not measurements on the searched dataset).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from evaluators.candidate import TrialRecord, input_shape, latency_ms, size_metrics, trial_seed
from evaluators.checkpoint import restore_rng, rng_state, save_state
from evaluators.trainer import CUDA_FINITE_CHECK_EVERY, TrialError, TrialFailed, TrialTimeout, evaluate
from nas.errors import ConfigError
from nas.settings import build_settings
from nas.types import Proposal, Result
from strategies.oneshot.architect import Architect
from strategies.oneshot.base import (
    DIAGNOSTIC_DEFAULTS,
    TABLE_METRICS,
    OneShotMethod,
    load_state,
    split_source,
    table_lookup,
    validate_diagnostics,
)
from strategies.oneshot.guards import should_stop_early


class OpenTrial(NamedTuple):
    """The common opening of a one-shot trial (:func:`open_trial`)."""

    record: TrialRecord
    net_settings: Any            # the space's supernet settings (None when ``failed``)
    seed: int                    # the trial's seed, from (search seed, trial id)
    settings: dict[str, Any]     # what a checkpoint of this trial must have been written with
    failed: Result | None        # the result in place of a run when the space does not suit the method


def open_trial(method: Any, space: Any, proposal: Proposal, config: Any, info: Any, device: torch.device,
               checkpoint: str | Path | None, tag: dict[str, Any] | None = None) -> OpenTrial:
    """The record, the space's supernet settings, the seed and the checkpoint settings of a one-shot
    trial (``tag`` first, then the method's options, the supernet settings and the training sizes),
    or the failed result when the space does not suit ``method``."""
    trial = TrialRecord(device, config, checkpoint)
    seed = trial_seed(config.seed, proposal.id)
    try:
        method.check(space)
        net_settings = space.supernet_settings(info, config)
    except ConfigError as e:
        return OpenTrial(trial, None, seed, {}, trial.done("failed", str(e)))
    settings = {**(tag or {}), **method.options, **net_settings, "epochs": config.epochs,
                "batch_size": config.batch_size, "seed": seed, "dataset": info.name}
    return OpenTrial(trial, net_settings, seed, settings, None)


FORMAT = "nas/darts-checkpoint@1"

#: the released ``train_search.py`` / ``architect.py`` defaults (see the module docstring)
DEFAULTS: dict[str, Any] = {
    "order": 1,
    "w_lr": 0.025,
    "w_lr_min": 0.001,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "w_grad_clip": 5.0,
    "alpha_lr": 3e-4,
    "alpha_weight_decay": 1e-3,
    "train_portion": 0.5,
    "alpha_init": "randn",
    **DIAGNOSTIC_DEFAULTS,
}

#: (option, test, what it must be) for the numeric options
_NUMERIC: tuple[tuple[str, Callable[[float], bool], str], ...] = (
    ("w_lr", lambda v: v > 0, "> 0"),
    ("alpha_lr", lambda v: v > 0, "> 0"),
    ("w_momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train_portion", lambda v: 0 < v < 1, "in (0, 1)"),
    *((k, lambda v: v >= 0, ">= 0") for k in ("w_lr_min", "w_weight_decay", "w_grad_clip", "alpha_weight_decay")),
)


class Darts(OneShotMethod):
    """DARTS, first or second order (Liu et al., ICLR 2019)."""

    name = "darts"
    defaults = DEFAULTS

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = dict(options)
        if s["order"] not in (1, 2) or isinstance(s["order"], bool):
            raise ConfigError(f"{where}: order must be 1 (first-order) or 2 (second-order), got {s['order']!r}")
        if s["alpha_init"] not in ("randn", "zeros"):
            raise ConfigError(f"{where}: alpha_init must be 'randn' or 'zeros', got {s['alpha_init']!r}")
        for key, ok, what in _NUMERIC:
            v = s[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
                raise ConfigError(f"{where}: {key} must be a finite number {what}, got {v!r}")
            s[key] = float(v)
        if s["w_lr_min"] > s["w_lr"]:
            raise ConfigError(f"{where}: w_lr_min ({s['w_lr_min']:g}) must not exceed w_lr ({s['w_lr']:g})")
        return validate_diagnostics(s, where)

    def describe(self) -> str:
        return f"DARTS ({'second' if self.options['order'] == 2 else 'first'} order)"

    # -- the trial -------------------------------------------------------------------------
    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        device = torch.device(device)
        hp, info = self.options, data.info
        trial, net_settings, seed, settings, failed = open_trial(self, space, proposal, config, info, device,
                                                                 checkpoint)
        if failed is not None:
            return failed
        history: list[dict[str, Any]] = []
        try:
            torch.manual_seed(seed)
            model = space.supernet(**net_settings, alpha_init=hp["alpha_init"]).to(device)
            w_half, a_half = split_source(data.train, hp["train_portion"], seed)
            outcome = self._search(space, model, (w_half, a_half, data.val), config, seed, device, trial,
                                   settings, history, on_epoch)
            kind = "second-order" if hp["order"] == 2 else "first-order"
            size = ", ".join(f"{k}={net_settings[k]}" for k in ("channels", "layers") if k in net_settings)
            meta = {"name": f"DARTS {kind} search {proposal.id}",
                    "source": f"DARTS ({kind}, Liu et al. 2019) on {info.name}: seed {seed}, {config.epochs} epochs, "
                              f"supernet {size}",
                    "order": hp["order"]}
            if outcome["stopped_at"] is not None:  # DARTS-ES: the architecture of k epochs before
                meta["early_stopped"] = {"at_epoch": outcome["stopped_at"], "returned_epoch": outcome["from_epoch"]}
                with torch.no_grad():
                    for a, old in zip(model.arch_parameters(), outcome["alphas"]):
                        a.copy_(old.to(a.device))
            arch = self.derive(space, model, meta)
            shape = input_shape(info)
            net = space.build(arch, **build_settings(space, info, config))
            metrics = {"val_acc": outcome["val_acc"], **size_metrics(net, shape),
                       "latency_ms": latency_ms(net, shape), "train_seconds": outcome["train_seconds"],
                       "epochs": len(history), "supernet_params": sum(p.numel() for p in model.weights())}
            report: dict[str, Any] = {"history": history}
            lookup = table_lookup(space, arch, hp["table"])
            if lookup is not None:  # NAS-Bench-201's CIFAR-10 numbers for the derived cell, not a measurement
                report["table_lookup"] = {"note": "NAS-Bench-201 table lookup (CIFAR-10 training), "
                                                  "not measured on the searched dataset", **lookup}
                metrics.update({k: v for k, v in lookup.items() if k in TABLE_METRICS})
        except ConfigError as e:
            return trial.done("failed", f"bad DARTS settings: {e}")
        except Exception as e:  # noqa: BLE001 - the trial fails, not the search
            return trial.failure(e, report={"history": history})
        return trial.done("ok", None, metrics, report, arch)

    def _search(self, space: Any, model: Any, sources: tuple[Any, Any, Any], config: Any, seed: int,
                device: torch.device, trial: TrialRecord, settings: dict[str, Any],
                history: list[dict[str, Any]], on_epoch: Callable[[dict[str, Any]], Any] | None) -> dict[str, Any]:
        """The epoch loop of the released ``train_search.py``; fills ``history``.

        Returns the final ``val_acc`` and ``train_seconds``; sets ``trial.resumed_from`` (the
        checkpoint epoch it continued from, 0 = from scratch), also when a TrialError is raised.
        """
        hp, ckpt = self.options, trial.checkpoint
        w_src, a_src, val_src = sources
        w_opt = torch.optim.SGD(model.weights(), lr=hp["w_lr"], momentum=hp["w_momentum"],
                                weight_decay=hp["w_weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.epochs, eta_min=hp["w_lr_min"])
        architect = Architect(model, order=hp["order"], lr=hp["alpha_lr"], weight_decay=hp["alpha_weight_decay"],
                              w_momentum=hp["w_momentum"], w_weight_decay=hp["w_weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        epoch, train_seconds = 0, 0.0
        snapshots: dict[int, list[torch.Tensor]] = {}  # epoch -> α, for DARTS-ES's step back
        stopped_at = from_epoch = None
        state = load_state(ckpt, FORMAT, "DARTS checkpoint", settings)
        if state is not None:
            model.load_state_dict(state["model"])
            w_opt.load_state_dict(state["w_optimizer"])
            architect.load_state_dict(state["a_optimizer"])
            sched.load_state_dict(state["scheduler"])
            restore_rng(state["rng"], gen, device)
            epoch, train_seconds = int(state["epoch"]), float(state["train_seconds"])
            history.extend(dict(r) for r in state["history"])
            snapshots = {int(k): list(v) for k, v in state.get("snapshots", {}).items()}
        trial.resumed_from = epoch
        crit = nn.CrossEntropyLoss()
        bs = config.batch_size
        try:
            while epoch < config.epochs and not (history and "early_stop" in history[-1]):
                t0 = time.perf_counter()
                lr = w_opt.param_groups[0]["lr"]
                loss, acc = _search_epoch(model, architect, w_opt, w_src, a_src, hp, bs, crit, gen, device, epoch,
                                          trial.deadline, lr)
                sched.step()
                if trial.deadline is not None and time.monotonic() > trial.deadline:
                    raise TrialTimeout(f"deadline reached after training epoch {epoch + 1}, before validation")
                val_acc = evaluate(model, val_src, device=device, batch_size=max(256, bs), amp=False,
                                   channels_last=False)
                seconds = time.perf_counter() - t0
                train_seconds += seconds
                epoch += 1
                derived = self.derive(space, model)
                row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc": acc, "val_acc": val_acc,
                       "seconds": seconds, "derived": derived.key}
                if "genotype" in derived.meta:
                    row["genotype"] = derived.meta["genotype"]
                row.update(self.diagnose(space, model, derived, epoch, a_src, bs, seed))
                history.append(row)
                stop = self._early_stop(model, history, snapshots, epoch)
                if stop is not None:
                    stopped_at, from_epoch = epoch, stop
                    row["early_stop"] = stop  # DARTS-ES: eigenvalue growth; the epoch whose architecture is returned
                if ckpt is not None:
                    save_state(ckpt, FORMAT, {
                        "epoch": epoch, "model": model.state_dict(), "w_optimizer": w_opt.state_dict(),
                        "a_optimizer": architect.state_dict(), "scheduler": sched.state_dict(),
                        "rng": rng_state(gen, device), "history": history, "train_seconds": train_seconds,
                        "snapshots": {str(k): v for k, v in snapshots.items()}, "settings": settings})
                if on_epoch is not None:
                    on_epoch(dict(row))
                if stop is not None:
                    break
            if not history:
                raise TrialFailed("no epoch was run")
        except TrialError as e:
            e.resumed_from = trial.resumed_from
            raise
        if stopped_at is None and history and "early_stop" in history[-1]:  # resumed after the stop
            stopped_at, from_epoch = int(history[-1]["epoch"]), int(history[-1]["early_stop"])
        return {"val_acc": float(history[-1]["val_acc"]), "train_seconds": train_seconds, "stopped_at": stopped_at,
                "from_epoch": from_epoch, "alphas": snapshots.get(from_epoch) if from_epoch is not None else None}

    def _early_stop(self, model: Any, history: list[dict[str, Any]], snapshots: dict[int, list[torch.Tensor]],
                    epoch: int) -> int | None:
        """DARTS-ES (``early_stop`` guard): the epoch to return to when the eigenvalue grew too fast, else None.

        Keeps α of the last ``early_stop_window + 1`` eigenvalue epochs in ``snapshots``.
        """
        hp = self.options
        if "early_stop" not in hp["guards"] or "hessian_eigenvalue" not in history[-1]:
            return None
        k = hp["early_stop_window"]
        snapshots[epoch] = [a.detach().cpu().clone() for a in model.arch_parameters()]
        for old in sorted(snapshots)[:-(k + 1)]:
            del snapshots[old]
        measured = [(int(r["epoch"]), float(r["hessian_eigenvalue"])) for r in history if "hessian_eigenvalue" in r]
        if not should_stop_early([v for _, v in measured], k, hp["early_stop_ratio"]):
            return None
        return measured[-k - 1][0]


def darts_step(model: Any, architect: Architect, w_opt: torch.optim.Optimizer, train: tuple[Any, Any],
               val: tuple[Any, Any], lr: float, grad_clip: float, crit: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """One search step: the architecture step on ``val``, then the SGD weight step on ``train``.

    Returns the weight loss and logits (detached). The loss is not checked here (no host
    sync): the caller fails the trial when it is not finite.
    """
    x, y = train
    architect.step(x, y, val[0], val[1], lr, w_opt)
    logits = model(x)
    loss = crit(logits, y)
    weights = [p for group in w_opt.param_groups for p in group["params"]]
    w_opt.zero_grad(set_to_none=True)
    loss.backward(inputs=weights)  # weight gradients only; α moves in the architecture step
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(weights, grad_clip)
    w_opt.step()
    return loss.detach(), logits.detach()


def _search_epoch(model: Any, architect: Architect, w_opt: torch.optim.Optimizer, w_src: Any, a_src: Any,
                  hp: dict[str, Any], bs: int, crit: nn.Module, gen: torch.Generator, device: torch.device,
                  epoch: int, deadline: float | None, lr: float) -> tuple[float, float]:
    """One pass over the weight half; returns (mean loss, accuracy %).

    Loss and hits are summed on the device (the loss in float64); finiteness is checked every
    step on the CPU and every :data:`CUDA_FINITE_CHECK_EVERY` steps and at the end on CUDA, as
    :func:`evaluators.trainer.train` does.
    """
    cuda = device.type == "cuda"
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    seen = step = 0
    for step, (x, y) in enumerate(w_src.batches(bs, shuffle=True, generator=gen), start=1):
        if deadline is not None and time.monotonic() > deadline:
            raise TrialTimeout(f"deadline reached at epoch {epoch + 1} step {step}")
        loss, logits = darts_step(model, architect, w_opt, (x, y), a_src.sample(bs, gen), lr, hp["w_grad_clip"],
                                  crit)
        if cuda:
            finite &= torch.isfinite(loss)
            if step % CUDA_FINITE_CHECK_EVERY == 0 and not finite:
                raise TrialFailed(f"diverged: loss is not finite at epoch {epoch + 1} step {step}")
        elif not torch.isfinite(loss):
            raise TrialFailed(f"diverged: loss is {loss.item()} at epoch {epoch + 1} step {step}")
        n = y.shape[0]
        loss_sum += loss.double() * n
        correct += (logits.argmax(1) == y).sum()
        seen += n
    if cuda and not finite:
        raise TrialFailed(f"diverged: loss is not finite at epoch {epoch + 1} (by step {step})")
    if seen == 0:
        raise TrialFailed("the weight half of the training split yields no batches")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen
