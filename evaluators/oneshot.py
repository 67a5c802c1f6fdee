"""DARTS supernet search as one trial (Liu et al. 2019; quark0 ``train_search.py``, REFERENCE §4).

:func:`run_darts` is what a training evaluator runs for a one-shot proposal
(``proposal.arch is None`` and ``proposal.config["one_shot"] == "darts"``; dispatched by
:func:`evaluators.candidate.evaluate_candidate`, so the local and Ray evaluators both run it).
The loop is quark0's (REFERENCE §4.1):

* The training split is halved (``train_portion`` 0.5, a seeded permutation): the first part
  trains the weights, the second the alphas. The validation split is not touched by the search.
* Each step: the architect step (:class:`evaluators.architect.Architect`, first or second order)
  on a random minibatch of the alpha half (a fresh shuffled draw per step, as quark0's
  ``next(iter(valid_queue))``: the batch source's ``sample``), then the SGD weight step (momentum
  0.9, weight decay 3e-4, grad norm clip 5, no Nesterov) on the next batch of the weight half.
* Weight lr: ``CosineAnnealingLR(T_max=epochs, eta_min=w_lr_min)``, 0.025 → 0.001 (the paper
  anneals to zero, the code to 0.001: REFERENCE pitfall 2); ξ of the second-order step is the
  current lr.
* Alphas: Adam(lr 3e-4, betas (0.5, 0.999), weight decay 1e-3).

Sizes: ``epochs`` and ``batch_size`` come from the search config, and so do ``channels``/``layers``
when set; otherwise the supernet is quark0's C=16, 8 cells (:data:`SUPERNET_DEFAULTS`; ``digits``
uses the space's tiny proxy, C=8, 3 cells). Every other setting comes from ``proposal.config``
(``search_spaces.darts.SEARCH_DEFAULTS``). Training is fp32 on every device (no autocast): the
finite difference of the second-order step needs the precision.

After every epoch the full state (weights + alphas, both optimizers, the scheduler, the epoch, the
torch and data RNG states, the history) is saved atomically to ``checkpoint`` and a re-run of the
same proposal continues from it (``torch.load(weights_only=True)``; the helpers of
:mod:`evaluators.checkpoint`); a checkpoint written with other settings is discarded. The
checkpoint is removed once a result is returned; ``worker["resumed_from_epoch"]`` is the epoch
the search continued from.

The result: ``status ok``; ``metrics`` = ``val_acc`` of the supernet on the validation split
(BatchNorm with batch statistics, as the paper's search does; quark0's ``infer`` used running
statistics, which lag far behind after a few steps), ``params``/``macs``/``latency_ms``
of the *derived* evaluation network (built by the space with the search config's build settings,
e.g. C=36, 20 cells for CIFAR), ``train_seconds``, ``epochs`` and ``supernet_params``; ``arch`` =
the derived architecture (REFERENCE §4.2) whose ``meta`` holds the genotype string and softmax(α)
of both cells; ``report["history"]`` has one row per epoch (lr, loss, accuracies, genotype). A
NaN/inf loss or running out of memory gives ``failed``; passing ``trial_timeout`` gives ``timeout``.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from evaluators.architect import Architect
from evaluators.checkpoint import read_state, restore_rng, rng_state, save_state
from evaluators.trainer import CUDA_FINITE_CHECK_EVERY, TrialError, TrialFailed, TrialTimeout, evaluate
from nas.arch import Architecture
from nas.errors import ConfigError
from nas.types import Proposal, Result

FORMAT = "nas/darts-checkpoint@1"
#: supernet (C, cells) per dataset family when the search config leaves channels/layers unset
SUPERNET_DEFAULTS: dict[str, tuple[int, int]] = {"digits": (8, 3), "cifar": (16, 8), "imagenet": (16, 8)}


def supernet_size(info: Any, config: Any) -> tuple[int, int]:
    """``(C, layers)`` of the supernet: the search config's, else :data:`SUPERNET_DEFAULTS`."""
    c, layers = SUPERNET_DEFAULTS.get(info.family, SUPERNET_DEFAULTS["cifar"])
    return (config.channels or c), (config.layers or layers)


def split_source(source: Any, portion: float, seed: int) -> tuple[Any, Any]:
    """Split a batch source into ``(first, rest)`` by a seeded permutation (quark0: 25k/25k).

    Each part keeps the source's augmentation settings. Works for in-memory
    ``TensorSource`` splits and streamed ``LoaderSource`` ones.
    """
    n = len(source)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(n * portion)
    if cut < 2 or n - cut < 2:
        raise ConfigError(f"train_portion {portion:g} of {n} training samples leaves a part with < 2 samples")
    parts = []
    for idx in (perm[:cut].sort().values, perm[cut:].sort().values):
        part = copy.copy(source)
        if hasattr(source, "x"):
            idx = idx.to(source.x.device)
            part.x, part.y = source.x[idx], source.y[idx]
        else:
            part.dataset = torch.utils.data.Subset(source.dataset, idx.tolist())
        parts.append(part)
    return parts[0], parts[1]


def genotype_string(g: dict[str, Any]) -> str:
    """quark0's ``Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=..., reduce_concat=...)``."""
    return ", ".join(f"{k}={list(g[k])!r}" for k in ("normal", "normal_concat", "reduce", "reduce_concat")).join(
        ("Genotype(", ")"))


def derive(space: Any, model: Any, meta: dict[str, Any]) -> Architecture:
    """The derived Architecture (REFERENCE §4.2) with softmax(α) and the genotype string in ``meta``."""
    with torch.no_grad():
        probs = {name: F.softmax(a.detach().float().cpu(), dim=-1).tolist()
                 for name, a in zip(("alphas_normal", "alphas_reduce"), model.arch_parameters())}
    arch = space.from_derived(model.genotype())
    meta = {**meta, "genotype": space.to_genotype(arch), "primitives": list(model.primitives), **probs}
    return Architecture(arch.space, cells=arch.cells, meta=meta)


# -- checkpoints -------------------------------------------------------------------------------
def _load(path: Path | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state if ``path`` holds one written with exactly ``settings``; else None (discarded)."""
    if path is None or not path.exists():
        return None
    try:
        state: dict[str, Any] | None = read_state(path, FORMAT, "DARTS checkpoint")
    except ConfigError:  # unreadable or not ours: start over
        state = None
    if state is None or state.get("settings") != settings:
        path.unlink(missing_ok=True)  # another trial's settings (e.g. a resume with --force)
        return None
    return state


# -- the search ----------------------------------------------------------------------------------
def run_darts(space: Any, proposal: Proposal, config: Any, data: Any, *, device: torch.device | str,
              checkpoint: str | Path | None = None,
              on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
    """Run the DARTS search of ``proposal`` and return its result (see the module docstring).

    ``on_epoch(row)`` is called after each epoch's checkpoint is written (tests and progress).
    """
    from evaluators.candidate import TrialRecord, build_kwargs, input_shape, latency_ms, size_metrics, trial_seed
    from search_spaces.darts import search_settings

    device = torch.device(device)
    trial = TrialRecord(device, config, checkpoint)
    if not hasattr(space, "from_derived"):
        return trial.done("failed", f"space {space.name!r} has no DARTS supernet (use --space darts)")
    try:
        hp = search_settings({k: v for k, v in proposal.config.items() if k != "one_shot"},
                             where=f"trial {proposal.id}")
    except ConfigError as e:
        return trial.done("failed", f"bad DARTS settings: {e}")
    info = data.info
    seed = trial_seed(config.seed, proposal.id)
    C, layers = supernet_size(info, config)
    settings = {**hp, "C": C, "layers": layers, "epochs": config.epochs, "batch_size": config.batch_size,
                "seed": seed, "dataset": info.name}
    history: list[dict[str, Any]] = []
    try:
        torch.manual_seed(seed)
        model = space.supernet(C=C, layers=layers, num_classes=info.num_classes, in_channels=info.in_channels,
                               alpha_init=hp["alpha_init"]).to(device)
        w_half, a_half = split_source(data.train, hp["train_portion"], seed)
        outcome = _search(model, w_half, a_half, data.val, hp, config, seed, device, trial.deadline,
                          trial.checkpoint, settings, history, on_epoch)
        trial.resumed_from = outcome["resumed_from"]
        kind = "second-order" if hp["order"] == 2 else "first-order"
        meta = {"name": f"DARTS {kind} search {proposal.id}",
                "source": f"DARTS ({kind}, Liu et al. 2019) on {info.name}: seed {seed}, {config.epochs} epochs, "
                          f"supernet C={C}, {layers} cells",
                "order": hp["order"]}
        arch = derive(space, model, meta)
        shape = input_shape(info)
        net = space.build(arch, in_channels=info.in_channels, num_classes=info.num_classes,
                          **build_kwargs(space, info, config))
        metrics = {"val_acc": outcome["val_acc"], **size_metrics(net, shape), "latency_ms": latency_ms(net, shape),
                   "train_seconds": outcome["train_seconds"], "epochs": len(history),
                   "supernet_params": sum(p.numel() for p in model.weights())}
    except ConfigError as e:
        return trial.done("failed", f"bad DARTS settings: {e}")
    except Exception as e:  # noqa: BLE001 - the trial fails, not the search
        return trial.failure(e, report={"history": history})
    return trial.done("ok", None, metrics, {"history": history}, arch)


def darts_step(model: Any, architect: Architect, w_opt: torch.optim.Optimizer, train: tuple[Any, Any],
               val: tuple[Any, Any], lr: float, grad_clip: float, crit: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """One quark0 search step: the architect step on ``val``, then the SGD weight step on ``train``.

    Returns the weight loss and logits (detached). The loss is not checked here (no host
    sync): the caller fails the trial when it is not finite.
    """
    x, y = train
    architect.step(x, y, val[0], val[1], lr, w_opt)
    logits = model(x)
    loss = crit(logits, y)
    weights = [p for group in w_opt.param_groups for p in group["params"]]
    w_opt.zero_grad(set_to_none=True)
    loss.backward(inputs=weights)  # weight gradients only; the alphas move in the architect step
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(weights, grad_clip)
    w_opt.step()
    return loss.detach(), logits.detach()


def _search(model: Any, w_src: Any, a_src: Any, val_src: Any, hp: dict[str, Any], config: Any, seed: int,
            device: torch.device, deadline: float | None, ckpt: Path | None, settings: dict[str, Any],
            history: list[dict[str, Any]], on_epoch: Callable[[dict[str, Any]], Any] | None) -> dict[str, Any]:
    """The epoch loop of quark0 ``train_search.py``; fills ``history``.

    Returns the final ``val_acc``, ``train_seconds`` and ``resumed_from`` (the checkpoint epoch it
    continued from, 0 = from scratch; also set on a raised :class:`TrialError`).
    """
    weights = model.weights()
    w_opt = torch.optim.SGD(weights, lr=hp["w_lr"], momentum=hp["w_momentum"], weight_decay=hp["w_weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.epochs, eta_min=hp["w_lr_min"])
    architect = Architect(model, order=hp["order"], lr=hp["alpha_lr"], weight_decay=hp["alpha_weight_decay"],
                          w_momentum=hp["w_momentum"], w_weight_decay=hp["w_weight_decay"])
    gen = torch.Generator().manual_seed(seed)
    epoch, train_seconds = 0, 0.0
    state = _load(ckpt, settings)
    if state is not None:
        model.load_state_dict(state["model"])
        w_opt.load_state_dict(state["w_optimizer"])
        architect.load_state_dict(state["a_optimizer"])
        sched.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], gen, device)
        epoch, train_seconds = int(state["epoch"]), float(state["train_seconds"])
        history.extend(dict(r) for r in state["history"])
    resumed_from = epoch
    crit = nn.CrossEntropyLoss()
    bs = config.batch_size
    try:
        while epoch < config.epochs:
            t0 = time.perf_counter()
            lr = w_opt.param_groups[0]["lr"]
            loss, acc = _search_epoch(model, architect, w_opt, w_src, a_src, hp, bs, crit, gen, device, epoch,
                                      deadline, lr)
            sched.step()
            if deadline is not None and time.monotonic() > deadline:
                raise TrialTimeout(f"deadline reached after training epoch {epoch + 1}, before validation")
            val_acc = evaluate(model, val_src, device=device, batch_size=max(256, bs), amp=False,
                               channels_last=False)
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            epoch += 1
            row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc": acc, "val_acc": val_acc,
                   "seconds": seconds, "genotype": genotype_string(model.genotype())}
            history.append(row)
            if ckpt is not None:
                save_state(ckpt, FORMAT, {
                    "epoch": epoch, "model": model.state_dict(), "w_optimizer": w_opt.state_dict(),
                    "a_optimizer": architect.state_dict(), "scheduler": sched.state_dict(),
                    "rng": rng_state(gen, device), "history": history, "train_seconds": train_seconds,
                    "settings": settings})
            if on_epoch is not None:
                on_epoch(dict(row))
        if not history:
            raise TrialFailed("no epoch was run")
    except TrialError as e:
        e.resumed_from = resumed_from
        raise
    return {"val_acc": float(history[-1]["val_acc"]), "train_seconds": train_seconds, "resumed_from": resumed_from}


def _search_epoch(model: Any, architect: Architect, w_opt: torch.optim.Optimizer, w_src: Any, a_src: Any,
                  hp: dict[str, Any], bs: int, crit: nn.Module, gen: torch.Generator, device: torch.device,
                  epoch: int, deadline: float | None, lr: float) -> tuple[float, float]:
    """One pass over the weight half; returns (mean loss, accuracy %).

    Loss and hits are summed on the device (the loss in float64, as Python floats were);
    finiteness is checked every step on the CPU and every :data:`CUDA_FINITE_CHECK_EVERY`
    steps and at the end on CUDA, as :func:`evaluators.trainer.train` does.
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
