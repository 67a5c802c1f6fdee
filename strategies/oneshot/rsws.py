"""Random search with weight sharing (Li & Talwalkar, "Random Search and Reproducibility for
Neural Architecture Search", UAI 2019), and the sampled-path loop it shares with ENAS.

:class:`PathMethod` trains the shared weights of the space's supernet on **one sampled path per
step**: every edge runs a single op (:class:`nas.nn.mixed_ops.SampledSupernet`; a path is one
choice per row of the architecture parameters, set as one-hot architecture weights, so the
space's own rule derives the cell of a path). The weights are trained by SGD on the first part
of the training split (:func:`~strategies.oneshot.base.split_source`, as DARTS); a subclass says
which path each step trains (:meth:`PathMethod.train_path`), may learn something after each epoch
(:meth:`PathMethod.after_epoch`: ENAS' controller) and proposes the final candidates
(:meth:`PathMethod.candidates`). Each candidate is scored by its accuracy, with the shared
weights, on the first ``eval_batches`` minibatches of the other part of the split; the best one
(the first on a tie) is derived by the space's rule. Checkpoints and resume work as DARTS'. Each
epoch's history row has DARTS' collapse diagnostics of the cell derived from that epoch's path
(the share of parameter-free ops; ``entropy`` is the mean per-decision entropy of the path
distribution: uniform for RSWS, the controller's for ENAS; no Hessian: the architecture
weights are not trained).

RSWS (:class:`RandomSearchWS`): paths uniform per edge during training (Li & Talwalkar §4.2,
stage 1, on DARTS' settings: SGD lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip
5, the 50/50 split), then ``n_candidates`` = 1000 uniform paths scored with the shared weights
(stage 2; the paper then retrains the best ones from scratch: ``nas train`` on the result).
Deviations: a path chooses one op on *every* edge, the supernet's ``none`` included, rather than
sampling the space's discrete cells (on the DARTS space the derived cell keeps each node's two
strongest, i.e. non-``none``, edges; the score is that of the path); candidates are scored on
``eval_batches`` = 10 minibatches rather than the whole held-out half (time).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from evaluators.candidate import TrialRecord, input_shape, latency_ms, size_metrics
from evaluators.checkpoint import restore_rng, rng_state, save_state
from evaluators.trainer import TrialError, TrialFailed, TrialTimeout, evaluate
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.settings import build_settings
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies.oneshot.base import OneShotMethod, load_state, split_source
from strategies.oneshot.darts import open_trial
from strategies.oneshot.strategy import OneShotStrategy

FORMAT = "nas/path-oneshot-checkpoint@1"

#: Li & Talwalkar's stage 1 on DARTS' training settings, and stage 2's 1000 candidates
DEFAULTS: dict[str, Any] = {
    "w_lr": 0.025, "w_lr_min": 0.001, "w_momentum": 0.9, "w_weight_decay": 3e-4, "w_grad_clip": 5.0,
    "train_portion": 0.5, "n_candidates": 1000, "eval_batches": 10,
}


def check_number(where: str, s: dict[str, Any], key: str, ok: Callable[[float], bool], what: str) -> None:
    """``s[key]`` as a float; ConfigError naming it unless it is a finite number with ``ok``."""
    v = s[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
        raise ConfigError(f"{where}: {key} must be a finite number {what}, got {v!r}")
    s[key] = float(v)


def check_count(where: str, s: dict[str, Any], key: str) -> None:
    """ConfigError naming ``key`` unless ``s[key]`` is an integer >= 1."""
    v = s[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{where}: {key} must be an integer >= 1, got {v!r}")


class PathMethod(OneShotMethod):
    """The sampled-path weight-sharing loop (module docstring); subclasses pick the paths."""

    label: ClassVar[str] = ""
    source: ClassVar[str] = ""
    nesterov: ClassVar[bool] = False

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = dict(options)
        check_number(where, s, "w_lr", lambda v: v > 0, "> 0")
        check_number(where, s, "w_momentum", lambda v: 0 <= v < 1, "in [0, 1)")
        check_number(where, s, "train_portion", lambda v: 0 < v < 1, "in (0, 1)")
        for key in ("w_lr_min", "w_weight_decay", "w_grad_clip"):
            check_number(where, s, key, lambda v: v >= 0, ">= 0")
        if s["w_lr_min"] > s["w_lr"]:
            raise ConfigError(f"{where}: w_lr_min ({s['w_lr_min']:g}) must not exceed w_lr ({s['w_lr']:g})")
        check_count(where, s, "eval_batches")
        return s

    # -- hooks -------------------------------------------------------------------------------
    def setup(self, model: Any, device: torch.device) -> None:
        """Build what the method learns besides the weights (called before a checkpoint loads)."""

    def train_path(self, model: Any, gen: torch.Generator) -> list[int]:
        """The path one weight step trains (default: uniform per edge)."""
        return uniform_path(model.path_sizes(), gen)

    def after_epoch(self, model: Any, a_src: Any, gen: torch.Generator, bs: int, device: torch.device,
                    deadline: float | None) -> dict[str, Any]:
        """Learn after an epoch of weight training; returns extra history entries."""
        return {}

    def epoch_path(self, model: Any, gen: torch.Generator) -> list[int]:
        """The path whose cell and validation accuracy an epoch's history row reports."""
        return uniform_path(model.path_sizes(), gen)

    def candidates(self, model: Any, gen: torch.Generator) -> list[list[int]]:
        """The final candidate paths."""
        return [uniform_path(model.path_sizes(), gen) for _ in range(self.options["n_candidates"])]

    def path_entropy(self, model: Any) -> float:
        """Mean entropy (nats) of the distribution paths are drawn from, per decision (uniform: log n)."""
        sizes = model.path_sizes()
        return sum(math.log(n) for n in sizes) / len(sizes)

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    # -- the trial -----------------------------------------------------------------------------
    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        from nas.nn.mixed_ops import SampledSupernet

        device = torch.device(device)
        hp, info = self.options, data.info
        trial, net_settings, seed, settings, failed = open_trial(self, space, proposal, config, info, device,
                                                                 checkpoint, {"method": self.name})
        if failed is not None:
            return failed
        history: list[dict[str, Any]] = []
        try:
            torch.manual_seed(seed)
            try:
                model = SampledSupernet(space.supernet(**net_settings), (2, *input_shape(info)[1:])).to(device)
            except ValueError as e:
                raise ConfigError(f"cannot sample paths of the supernet of space {space.name!r}: {e}") from e
            for p in model.arch_parameters():
                p.requires_grad_(False)
            w_half, a_half = split_source(data.train, hp["train_portion"], seed)
            gen = torch.Generator().manual_seed(seed)
            train_seconds = self._search(space, model, w_half, a_half, data.val, config, gen, device, trial,
                                         settings, history, on_epoch)
            best, scores = self._select(model, a_half, gen, config.batch_size, device)
            model.set_path(best)
            val_acc = evaluate(model, data.val, device=device, batch_size=max(256, config.batch_size), amp=False,
                               channels_last=False)
            size = ", ".join(f"{k}={net_settings[k]}" for k in ("channels", "layers") if k in net_settings)
            meta = {"name": f"{self.label} search {proposal.id}",
                    "source": f"{self.source} on {info.name}: seed {seed}, {config.epochs} epochs, supernet {size}; "
                              f"best of {len(scores)} candidates ({max(scores):.2f}% on the held-out half)"}
            arch = self.derive(space, model.net, meta)
            shape = input_shape(info)
            net = space.build(arch, **build_settings(space, info, config))
            metrics = {"val_acc": val_acc, **size_metrics(net, shape), "latency_ms": latency_ms(net, shape),
                       "train_seconds": train_seconds, "epochs": len(history),
                       "supernet_params": sum(p.numel() for p in model.weights())}
        except ConfigError as e:
            return trial.done("failed", f"bad {self.label} settings: {e}")
        except Exception as e:  # noqa: BLE001 - the trial fails, not the search
            return trial.failure(e, report={"history": history})
        return trial.done("ok", None, metrics, {"history": history, "candidate_scores": scores}, arch)

    def _search(self, space: Any, model: Any, w_src: Any, a_src: Any, val_src: Any, config: Any,
                gen: torch.Generator, device: torch.device, trial: TrialRecord, settings: dict[str, Any],
                history: list[dict[str, Any]], on_epoch: Callable[[dict[str, Any]], Any] | None) -> float:
        """The epoch loop; fills ``history``, returns the training seconds; sets ``trial.resumed_from``."""
        hp, ckpt, bs = self.options, trial.checkpoint, config.batch_size
        w_opt = torch.optim.SGD(model.weights(), lr=hp["w_lr"], momentum=hp["w_momentum"],
                                weight_decay=hp["w_weight_decay"], nesterov=self.nesterov and hp["w_momentum"] > 0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.epochs, eta_min=hp["w_lr_min"])
        self.setup(model, device)
        epoch, train_seconds = 0, 0.0
        state = load_state(ckpt, FORMAT, f"{self.label} checkpoint", settings)
        if state is not None:
            model.load_state_dict(state["model"])
            w_opt.load_state_dict(state["w_optimizer"])
            sched.load_state_dict(state["scheduler"])
            self.load_extra(state["extra"])
            restore_rng(state["rng"], gen, device)
            epoch, train_seconds = int(state["epoch"]), float(state["train_seconds"])
            history.extend(dict(r) for r in state["history"])
        trial.resumed_from = epoch
        crit = nn.CrossEntropyLoss()
        try:
            while epoch < config.epochs:
                t0 = time.perf_counter()
                lr = w_opt.param_groups[0]["lr"]
                loss, acc = self._train_epoch(model, w_opt, w_src, bs, crit, gen, epoch, trial.deadline)
                sched.step()
                extra = self.after_epoch(model, a_src, gen, bs, device, trial.deadline)
                if trial.deadline is not None and time.monotonic() > trial.deadline:
                    raise TrialTimeout(f"deadline reached after training epoch {epoch + 1}, before validation")
                model.set_path(self.epoch_path(model, gen))
                val_acc = evaluate(model, val_src, device=device, batch_size=max(256, bs), amp=False,
                                   channels_last=False)
                seconds = time.perf_counter() - t0
                train_seconds += seconds
                epoch += 1
                derived = space.derive(model.net)
                row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc": acc, "val_acc": val_acc,
                       "seconds": seconds, "derived": derived.key}
                if "genotype" in derived.meta:
                    row["genotype"] = derived.meta["genotype"]
                # the collapse diagnostics of the derived cell; the entropy is that of the path sampler
                row.update(self.diagnose(space, model.net, derived, epoch, a_src, bs, 0))
                row.update({"entropy": self.path_entropy(model), **extra})
                history.append(row)
                if ckpt is not None:
                    save_state(ckpt, FORMAT, {
                        "epoch": epoch, "model": model.state_dict(), "w_optimizer": w_opt.state_dict(),
                        "scheduler": sched.state_dict(), "extra": self.extra_state(),
                        "rng": rng_state(gen, device), "history": history, "train_seconds": train_seconds,
                        "settings": settings})
                if on_epoch is not None:
                    on_epoch(dict(row))
            if not history:
                raise TrialFailed("no epoch was run")
        except TrialError as e:
            e.resumed_from = trial.resumed_from
            raise
        return train_seconds

    def _train_epoch(self, model: Any, w_opt: torch.optim.Optimizer, w_src: Any, bs: int, crit: nn.Module,
                     gen: torch.Generator, epoch: int, deadline: float | None) -> tuple[float, float]:
        """One pass over the weight half, a fresh path per step; returns (mean loss, accuracy %)."""
        model.train()
        weights = model.weights()
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (x, y) in enumerate(w_src.batches(bs, shuffle=True, generator=gen), start=1):
            if deadline is not None and time.monotonic() > deadline:
                raise TrialTimeout(f"deadline reached at epoch {epoch + 1} step {step}")
            model.set_path(self.train_path(model, gen))
            logits = model(x)
            loss = crit(logits, y)
            if not torch.isfinite(loss):
                raise TrialFailed(f"diverged: loss is {loss.item()} at epoch {epoch + 1} step {step}")
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.options["w_grad_clip"] > 0:
                nn.utils.clip_grad_norm_(weights, self.options["w_grad_clip"])
            w_opt.step()
            loss_sum += float(loss.detach()) * y.shape[0]
            correct += int((logits.argmax(1) == y).sum())
            seen += y.shape[0]
        if seen == 0:
            raise TrialFailed("the weight half of the training split yields no batches")
        return loss_sum / seen, 100.0 * correct / seen

    def _select(self, model: Any, a_src: Any, gen: torch.Generator, bs: int,
                device: torch.device) -> tuple[list[int], list[float]]:
        """The best of :meth:`candidates` on the first ``eval_batches`` batches of the held-out half."""
        batches = []
        for i, b in enumerate(a_src.batches(bs)):
            if i >= self.options["eval_batches"]:
                break
            batches.append(b)
        cands = self.candidates(model, gen)
        scores = [path_accuracy(model, c, batches) for c in cands]
        best = max(range(len(cands)), key=lambda i: (scores[i], -i))
        return cands[best], scores


def uniform_path(sizes: list[int], gen: torch.Generator) -> list[int]:
    """One choice per decision, uniform (from ``gen``)."""
    return [int(torch.randint(n, (1,), generator=gen)) for n in sizes]


@torch.no_grad()
def path_accuracy(model: Any, path: list[int], batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy (%) of the supernet on ``path`` over ``batches`` (eval mode, batch statistics)."""
    model.set_path(path)
    model.eval()
    hit = total = 0
    for x, y in batches:
        hit += int((model(x).argmax(1) == y).sum())
        total += y.shape[0]
    return 100.0 * hit / max(total, 1)


class RandomSearchWS(PathMethod):
    """Random search with weight sharing (Li & Talwalkar, UAI 2019)."""

    name = "rsws"
    label = "RSWS"
    source = "random search with weight sharing (Li & Talwalkar 2019)"
    defaults = DEFAULTS

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = super().validate(options, where)
        check_count(where, s, "n_candidates")
        return s

    def describe(self) -> str:
        return f"random search with weight sharing ({self.options['n_candidates']} candidates)"


class RandomSearchWSStrategy(OneShotStrategy):
    """Random search with weight sharing (Li & Talwalkar, UAI 2019) as a strategy."""

    name = "rsws"
    method_name = "rsws"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 w_lr: float = 0.025, w_lr_min: float = 0.001, w_momentum: float = 0.9, w_weight_decay: float = 3e-4,
                 w_grad_clip: float = 5.0, train_portion: float = 0.5, n_candidates: int = 1000,
                 eval_batches: int = 10) -> None:
        super().__init__(space, seed=seed, objective=objective, w_lr=w_lr, w_lr_min=w_lr_min, w_momentum=w_momentum,
                         w_weight_decay=w_weight_decay, w_grad_clip=w_grad_clip, train_portion=train_portion,
                         n_candidates=n_candidates, eval_batches=eval_batches)
