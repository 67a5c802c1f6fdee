"""ENAS as a one-shot method (Pham et al., "Efficient Neural Architecture Search via Parameter
Sharing", ICML 2018).

The LSTM controller of :mod:`strategies.rl` (:class:`strategies.rl_controller.Controller`)
samples **paths of the space's shared supernet**: one op per edge, i.e. one decision per row of
the architecture parameters (§2.1-2.3, "one path per edge"; the sampled-path loop of
:class:`strategies.oneshot.rsws.PathMethod`). The two phases alternate (§2.2):

1. the shared weights train for one epoch, each minibatch on a path sampled from the controller
   (SGD, Nesterov momentum 0.9, cosine lr 0.05 to 0.0005, weight decay 1e-4, gradient norm 5);
2. the controller trains for ``controller_steps`` steps with REINFORCE: per step one sampled path,
   reward = its accuracy with the shared weights on a minibatch of the held-out part of the
   training split (a fraction, as ENAS' 45k/5k split: ``train_portion`` 0.9) plus
   ``entropy_weight`` times the policy entropy, minus a moving-average baseline
   ``b ← b − (1 − baseline_decay)(b − reward)``; Adam (lr 3.5e-4).

At the end ``final_samples`` paths are sampled from the controller and the one with the best
reward on a held-out minibatch is derived by the space's rule (§2.2, "Deriving Architectures").

Defaults (the values commonly quoted for the paper, Pham et al. 2018 §3): controller LSTM 100
units, Adam lr 3.5e-4, logits ``/ temperature`` 5 then ``2.5·tanh``, parameters uniform in
[-0.1, 0.1], entropy weight 1e-4, baseline decay 0.99, 2000 controller steps per epoch (carpedm20's
port; the official micro-search script uses 30 steps of 10 aggregated samples). Deviations: the
cosine schedule is a single annealing over the epochs (the paper's SGDR restarts at T0 = 10,
Tmul = 2 are omitted); a path chooses an op on every edge of the supernet (the supernet's
``none`` included) rather than ENAS' micro cell (two inputs and two ops per node); 10 final
samples.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from evaluators.trainer import TrialTimeout
from nas.objectives import Objective
from search_spaces.base import SearchSpace
from strategies.oneshot.rsws import PathMethod, check_count, check_number, path_accuracy
from strategies.oneshot.strategy import OneShotStrategy
from strategies.rl_controller import Controller

#: Pham et al. 2018 (see the module docstring)
DEFAULTS: dict[str, Any] = {
    "w_lr": 0.05, "w_lr_min": 0.0005, "w_momentum": 0.9, "w_weight_decay": 1e-4, "w_grad_clip": 5.0,
    "train_portion": 0.9, "controller_lr": 3.5e-4, "hidden": 100, "tanh_constant": 2.5, "temperature": 5.0,
    "init_range": 0.1, "entropy_weight": 1e-4, "baseline_decay": 0.99, "controller_steps": 2000,
    "final_samples": 10, "eval_batches": 1,
}


class Enas(PathMethod):
    """ENAS: an LSTM controller trained by REINFORCE samples paths of the shared supernet."""

    name = "enas"
    label = "ENAS"
    source = "ENAS (Pham et al. 2018)"
    defaults = DEFAULTS
    nesterov = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.controller: Controller | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.baseline: float | None = None

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = super().validate(options, where)
        check_number(where, s, "controller_lr", lambda v: v > 0, "> 0")
        check_number(where, s, "tanh_constant", lambda v: v > 0, "> 0")
        check_number(where, s, "temperature", lambda v: v > 0, "> 0")
        check_number(where, s, "init_range", lambda v: v > 0, "> 0")
        check_number(where, s, "entropy_weight", lambda v: v >= 0, ">= 0")
        check_number(where, s, "baseline_decay", lambda v: 0 <= v < 1, "in [0, 1)")
        for key in ("hidden", "final_samples"):
            check_count(where, s, key)
        if isinstance(s["controller_steps"], bool) or not isinstance(s["controller_steps"], int) \
                or s["controller_steps"] < 0:
            from nas.errors import ConfigError

            raise ConfigError(f"{where}: controller_steps must be an integer >= 0, got {s['controller_steps']!r}")
        return s

    def describe(self) -> str:
        return f"ENAS ({self.options['controller_steps']} controller steps per epoch)"

    # -- the controller ------------------------------------------------------------------------
    def setup(self, model: Any, device: torch.device) -> None:
        hp = self.options
        gen = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,))))
        self.controller = Controller(model.path_sizes(), hp["hidden"], 1, tanh_constant=hp["tanh_constant"],
                                     temperature=hp["temperature"])
        self.controller.reset_parameters(hp["init_range"], gen)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=hp["controller_lr"])
        self.baseline = None

    def train_path(self, model: Any, gen: torch.Generator) -> list[int]:
        assert self.controller is not None
        return self.controller.sample(gen)[0]

    def epoch_path(self, model: Any, gen: torch.Generator) -> list[int]:
        """The controller's most likely path (greedy decoding)."""
        assert self.controller is not None
        probs = self.controller.probabilities()
        return [max(range(len(p)), key=p.__getitem__) for p in probs]

    def path_entropy(self, model: Any) -> float:
        """The controller's mean per-decision entropy along its greedy path (nats)."""
        assert self.controller is not None
        probs = self.controller.probabilities()
        return float(sum(-sum(p * math.log(p) for p in row if p > 0) for row in probs) / len(probs))

    def after_epoch(self, model: Any, a_src: Any, gen: torch.Generator, bs: int, device: torch.device,
                    deadline: float | None) -> dict[str, Any]:
        """``controller_steps`` REINFORCE steps; returns the mean reward and the baseline."""
        import time

        assert self.controller is not None and self.optimizer is not None
        hp = self.options
        rewards = []
        for step in range(hp["controller_steps"]):
            if deadline is not None and time.monotonic() > deadline:
                raise TrialTimeout(f"deadline reached at controller step {step + 1}")
            path = self.controller.sample(gen)[0]
            acc = path_accuracy(model, path, [a_src.sample(bs, gen)])
            rewards.append(self.reinforce(path, acc))
        return {"controller_reward": sum(rewards) / len(rewards) if rewards else None,
                "controller_baseline": self.baseline}

    def reinforce(self, path: list[int], accuracy: float) -> float:
        """One REINFORCE step for ``path`` scored ``accuracy`` (%); returns the reward."""
        assert self.controller is not None and self.optimizer is not None
        hp = self.options
        logp, entropy = self.controller.log_prob([path])
        reward = accuracy / 100.0 + hp["entropy_weight"] * float(entropy[0])
        if self.baseline is None:
            self.baseline = reward
        self.baseline -= (1.0 - hp["baseline_decay"]) * (self.baseline - reward)
        loss = -(logp[0] * (reward - self.baseline))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return reward

    def candidates(self, model: Any, gen: torch.Generator) -> list[list[int]]:
        assert self.controller is not None
        return self.controller.sample(gen, self.options["final_samples"])

    def extra_state(self) -> dict[str, Any]:
        assert self.controller is not None and self.optimizer is not None
        return {"controller": self.controller.state_dict(), "optimizer": self.optimizer.state_dict(),
                "baseline": self.baseline}

    def load_extra(self, state: dict[str, Any]) -> None:
        assert self.controller is not None and self.optimizer is not None
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]


class EnasStrategy(OneShotStrategy):
    """ENAS one-shot search (Pham et al., ICML 2018): the :class:`Enas` method as a strategy."""

    name = "enas"
    method_name = "enas"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 w_lr: float = 0.05, w_lr_min: float = 0.0005, w_momentum: float = 0.9, w_weight_decay: float = 1e-4,
                 w_grad_clip: float = 5.0, train_portion: float = 0.9, controller_lr: float = 3.5e-4,
                 hidden: int = 100, tanh_constant: float = 2.5, temperature: float = 5.0, init_range: float = 0.1,
                 entropy_weight: float = 1e-4, baseline_decay: float = 0.99, controller_steps: int = 2000,
                 final_samples: int = 10, eval_batches: int = 1) -> None:
        super().__init__(space, seed=seed, objective=objective, w_lr=w_lr, w_lr_min=w_lr_min, w_momentum=w_momentum,
                         w_weight_decay=w_weight_decay, w_grad_clip=w_grad_clip, train_portion=train_portion,
                         controller_lr=controller_lr, hidden=hidden, tanh_constant=tanh_constant,
                         temperature=temperature, init_range=init_range, entropy_weight=entropy_weight,
                         baseline_decay=baseline_decay, controller_steps=controller_steps,
                         final_samples=final_samples, eval_batches=eval_batches)
