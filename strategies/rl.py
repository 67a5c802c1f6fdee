"""REINFORCE with an LSTM controller (Zoph & Le 2017; ENAS details, Pham et al. 2018).

Zoph & Le, ICLR 2017, §3; melodyguan/enas src/cifar10/micro_controller.py.
An LSTM emits the space's ``decisions()`` in order, so the controller works
for every registered space: step ``t`` feeds the embedding of decision ``t-1``'s choice (a
learned start vector at ``t = 0``, ENAS ``g_emb``) and a per-decision linear head gives the
logits of decision ``t``. Logits are divided by ``temperature`` and squashed by
``tanh_constant · tanh(·)`` when those are set (ENAS). Parameters start uniform in
``[-init_range, init_range]`` (0.1, ENAS/NASNet).

Update (ENAS ``build_trainer``, melodyguan/enas src/cifar10/micro_controller.py): for each evaluated architecture,
``reward = score / 100 + entropy_weight · H`` (scores are percentages in this toolkit; ``H``
is the entropy of the policy along the sampled sequence), the baseline is an exponential
moving average ``b ← b − (1 − baseline_decay)(b − reward)`` (Zoph & Le's "EMA of previous
accuracies"), and the loss is ``Σ −log p(a) · (reward − b)``, averaged over a batch of
``batch_size`` results and minimized with Adam. Failed trials give no update.

Asynchronous batches: ``ask`` always samples from the current policy, so as many proposals
as the driver has workers can be in flight; one Adam step is taken whenever ``batch_size``
results have come back (log-probabilities are recomputed then; with sequential evaluation
every batch was sampled from the policy being updated).

Deduplication (documented deviation): a sampled architecture whose key was already
evaluated (or is in flight) is not proposed again; the controller samples again, up to
``max_tries`` times, then a random unseen architecture is proposed. Re-sampled duplicates
are not learned from: feeding their known reward back would reinforce already-seen
architectures, which makes more duplicates (the policy collapses onto its own history).

Defaults follow ENAS' CIFAR controller code (64 units, 1 layer, entropy weight 1e-4; Pham et
al., ICML 2018) except three: Adam lr 0.01 and baseline EMA momentum 0.9 are NAS-Bench-201's
REINFORCE settings (Dong & Yang, ICLR 2020; lr 0.01 as in the NATS-Bench re-runs, Dong et al.,
TPAMI 2021), which ``nas bench`` found better than ENAS' 0.0035 and 0.99 on that benchmark (see
BENCHMARKS.md); and the tanh constant 2.5 (the ENAS paper value, also carpedm20's port) rather
than the micro-search code's 1.1, which caps a 5-way choice at probability
e^1.1 / (e^1.1 + 4e^-1.1) ≈ 0.69, so the policy could never commit.
"""
from __future__ import annotations

from typing import Any

from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import float_option, int_option, sample_unseen
from strategies.base import Strategy


#: controller samples drawn per LSTM pass while looking for an unseen architecture
SAMPLE_CHUNK = 4


class ReinforceController(Strategy):
    """REINFORCE with an LSTM controller over ``decisions()`` (Zoph & Le 2017, ENAS).

    Options: ``hidden`` (LSTM units, 64), ``layers`` (1), ``lr`` (Adam, 0.01),
    ``baseline_decay`` (EMA, 0.9), ``entropy_weight`` (1e-4), ``tanh_constant`` (2.5;
    null = off), ``temperature`` (null = off), ``init_range`` (0.1), ``batch_size`` (results
    per update, 1), ``max_tries`` (duplicate samples before a random unseen one, 50).
    """

    name = "rl"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        objective: Objective | None = None,
        hidden: int = 64,
        layers: int = 1,
        lr: float = 0.01,  # NAS-Bench-201's REINFORCE (Dong & Yang, ICLR 2020); ENAS used 0.0035
        baseline_decay: float = 0.9,  # idem; ENAS used 0.99
        entropy_weight: float = 1e-4,
        tanh_constant: float | None = 2.5,
        temperature: float | None = None,
        init_range: float = 0.1,
        batch_size: int = 1,
        max_tries: int = 50,
    ) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.hidden = int_option(self.name, "hidden", hidden)
        self.layers = int_option(self.name, "layers", layers)
        self.lr = float_option(self.name, "lr", lr, 0.0)
        self.baseline_decay = float_option(self.name, "baseline_decay", baseline_decay, 0.0, 1.0)
        self.entropy_weight = float_option(self.name, "entropy_weight", entropy_weight, 0.0)
        self.tanh_constant = float_option(self.name, "tanh_constant", tanh_constant, 1e-9, allow_none=True)
        self.temperature = float_option(self.name, "temperature", temperature, 1e-9, allow_none=True)
        self.init_range = float_option(self.name, "init_range", init_range, 0.0)
        self.batch_size = int_option(self.name, "batch_size", batch_size)
        self.max_tries = int_option(self.name, "max_tries", max_tries)
        self.decisions = space.decisions()

        import torch

        from strategies.rl_controller import Controller

        self.gen = torch.Generator().manual_seed(seed)
        self.controller = Controller([len(d) for d in self.decisions], self.hidden, self.layers,
                                     tanh_constant=self.tanh_constant, temperature=self.temperature)
        self.controller.reset_parameters(self.init_range, self.gen)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.lr)
        self.baseline: float | None = None
        self.buffer: list[tuple[list[int], float]] = []  # (choices, score) awaiting an update
        self.pending: dict[str, dict[str, Any]] = {}  # id -> {"choices", "key"}
        self.known: dict[str, float | None] = {}  # evaluated key -> score (None: failed)
        self.inflight: set[str] = set()
        self.n_updates = 0
        self.exhausted = False

    # -- ask / tell ------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        if self.exhausted:
            return None
        tries = 0
        while tries < self.max_tries:  # sampled in small batches: one LSTM pass per batch
            for choices in self.controller.sample(self.gen, min(SAMPLE_CHUNK, self.max_tries - tries)):
                tries += 1
                arch = self.space.decode(choices)
                key = arch.key
                if key in self.known or key in self.inflight:  # seen: sample again, no budget spent
                    continue
                return self._propose(arch, choices, key, "controller")
        arch = sample_unseen(self.space, self.rng, set(self.known) | self.inflight, self.max_tries)
        if arch is None:
            self.exhausted = True
            return None
        return self._propose(arch, list(self.space.encode(arch)), arch.key, "random")

    def _propose(self, arch: Any, choices: list[int], key: str, origin: str) -> Proposal:
        pid = self.new_id()
        self.pending[pid] = {"choices": choices, "key": key}
        self.inflight.add(key)
        return Proposal(pid, arch, info={"origin": origin})

    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        self.inflight.discard(entry["key"])
        score = self.objective.score(result)  # None: failed or not finite
        self.known[entry["key"]] = score
        self._learn(entry["choices"], score)

    def _learn(self, choices: list[int], score: float | None) -> None:
        if score is None:
            return
        self.buffer.append((list(choices), score))
        if len(self.buffer) >= self.batch_size:
            self._update()

    def _update(self) -> None:
        """One REINFORCE step on the buffered results (ENAS reward, EMA baseline, Adam)."""
        import torch

        batch, self.buffer = self.buffer, []
        logp, entropy = self.controller.log_prob([c for c, _ in batch])
        advantages = []
        for (_, score), h in zip(batch, entropy.tolist()):
            reward = score / 100.0 + self.entropy_weight * h
            if self.baseline is None:
                self.baseline = reward
            self.baseline -= (1.0 - self.baseline_decay) * (self.baseline - reward)
            advantages.append(reward - self.baseline)
        adv = torch.tensor(advantages, dtype=logp.dtype)
        loss = -(logp * adv).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.n_updates += 1

    def probabilities(self, choices_prefix: list[int] | None = None) -> list[list[float]]:
        """Per-decision choice probabilities along ``choices_prefix`` (greedy where absent); for tests."""
        return self.controller.probabilities(choices_prefix)

    def done(self) -> bool:
        return self.exhausted

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        from strategies.rl_controller import to_json

        return {
            **super().state_dict(),
            "controller": to_json(self.controller.state_dict()),
            "optimizer": to_json(self.optimizer.state_dict()),
            "torch_rng": self.gen.get_state().tolist(),
            "baseline": self.baseline,
            "buffer": [[c, s] for c, s in self.buffer],
            "pending": {pid: dict(p) for pid, p in self.pending.items()},
            "known": dict(self.known),
            "inflight": sorted(self.inflight),
            "n_updates": self.n_updates,
            "exhausted": self.exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        from strategies.rl_controller import from_json

        super().load_state_dict(state)
        self.controller.load_state_dict(from_json(state["controller"]))
        self.optimizer.load_state_dict(from_json(state["optimizer"]))
        self.gen.set_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
        self.baseline = state["baseline"]
        self.buffer = [(list(c), float(s)) for c, s in state["buffer"]]
        self.pending = {pid: {"choices": list(p["choices"]), "key": p["key"]} for pid, p in state["pending"].items()}
        self.known = {k: (None if v is None else float(v)) for k, v in state["known"].items()}
        self.inflight = set(state["inflight"])
        self.n_updates = int(state["n_updates"])
        self.exhausted = bool(state["exhausted"])
