"""Test-only plugin: a tiny bit-string space ``toy`` and a deterministic evaluator ``toy``.

Importing this module registers both (``NAS_PLUGINS=tests.toy_plugin`` does it for a
``python -m nas`` subprocess). The evaluator's ``val_acc`` is a deterministic function of
``(seed, trial id, architecture)``: the fraction of one-bits (the toy problem of the
aging-evolution notebook accompanying Real et al., AAAI 2019) plus a small trial-seeded noise,
so a re-run trial gives the same result.

``config.evaluator_options``: ``sleep`` (seconds per trial), ``fail_every`` (trials whose
number is a multiple fail), ``fail_all``, ``cost`` (simulated seconds per trial; sets
``Result.cost``), ``capacity``, ``lifo`` (finish the newest submission first).
"""
from __future__ import annotations

import os
import random
import time
from collections import deque
from pathlib import Path
from typing import Any, Sequence

from nas.arch import Architecture
from nas.errors import DataError, InvalidArchitecture
from nas.registry import EVALUATORS, SPACES
from evaluators.base import Evaluator
from nas.types import Decision, Proposal, Result
from search_spaces.base import SearchSpace


class ToySpace(SearchSpace):
    """Bit strings of length ``n_bits``; mutation flips one bit."""

    name = "toy"

    def __init__(self, n_bits: int = 10) -> None:
        self.n_bits = n_bits

    def decisions(self) -> list[Decision]:
        return [Decision(f"bit{i}", (0, 1)) for i in range(self.n_bits)]

    def decode(self, choices: Sequence[int]) -> Architecture:
        bits = self.check_choices(choices)
        return Architecture(self.name, blocks=({"bits": "".join(map(str, bits))},))

    def encode(self, arch: Architecture) -> list[int]:
        self.validate(arch)
        return [int(c) for c in arch.blocks[0]["bits"]]

    def validate(self, arch: Architecture) -> None:
        self.check_space(arch)
        blocks = arch.blocks or ()
        if len(blocks) != 1 or set(blocks[0]) != {"bits"}:
            raise InvalidArchitecture("toy: expected one block {'bits': '0101...'}")
        bits = blocks[0]["bits"]
        if not isinstance(bits, str) or len(bits) != self.n_bits or set(bits) - {"0", "1"}:
            raise InvalidArchitecture(f"toy: bits must be {self.n_bits} characters of 0/1, got {bits!r}")

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        bits = self.encode(arch)
        i = rng.randrange(self.n_bits)
        bits[i] = 1 - bits[i]
        return self.decode(bits)

    def build(self, arch: Architecture, **kwargs: Any) -> Any:
        raise NotImplementedError("the toy space has no model")


def ones(arch: Architecture) -> float:
    bits = arch.blocks[0]["bits"]
    return bits.count("1") / len(bits)


def toy_metrics(seed: int, pid: str, arch: Architecture) -> dict[str, float]:
    noise = random.Random(f"{seed}:{pid}").random()
    return {"val_acc": round(0.9 * ones(arch) + 0.1 * noise, 6), "params": 1000.0 * (1 + ones(arch)),
            "macs": 5e4 * (1 + ones(arch))}


class ToyEvaluator(Evaluator):
    """Deterministic in-process evaluator for the toy space (and any space: uses the key).

    ``Result.cost`` (option ``cost``) is simulated time, so ``simulated_time`` is True.
    """

    name = "toy"
    simulated_time = True

    def __init__(self, space: Any, config: Any, *, run_dir: Any = None) -> None:
        super().__init__(space, config, run_dir=run_dir)
        self.opts = dict(config.evaluator_options)
        self.queue: deque[Proposal] = deque()
        self.submitted: list[str] = []
        self.closed = False

    def check(self) -> None:
        if self.config.data_dir is not None and not Path(self.config.data_dir).is_dir():
            raise DataError(f"data dir {self.config.data_dir} does not exist")

    def capacity(self) -> int:
        return int(self.opts.get("capacity", 1))

    def submit(self, proposal: Proposal) -> None:
        self.submitted.append(proposal.id)
        self.queue.append(proposal)

    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        if not self.queue:
            return []
        p = self.queue.pop() if self.opts.get("lifo") else self.queue.popleft()
        if self.opts.get("sleep"):
            time.sleep(float(self.opts["sleep"]))
        return [(p.id, self.evaluate(p))]

    def evaluate(self, p: Proposal) -> Result:
        n = int(p.id.lstrip("t") or 0)
        worker = {"pid": os.getpid()}
        try:
            self.space.validate(p.arch)
        except InvalidArchitecture as e:
            return Result("failed", {}, f"toy: {e}", worker)
        cost = None
        if self.opts.get("cost") is not None:
            cost = float(self.opts["cost"]) * (1 + ones(p.arch))
        every = self.opts.get("fail_every")
        if self.opts.get("fail_all") or (every and n % int(every) == 0):
            return Result("failed", {}, f"toy failure of {p.id}", worker, cost=cost)
        metrics = toy_metrics(self.config.seed, p.id, p.arch)
        return Result("ok", metrics, None, worker, report={"test_acc": metrics["val_acc"] - 0.01}, cost=cost)

    def shutdown(self) -> None:
        self.closed = True


if "toy" not in SPACES:
    SPACES.add("toy", ToySpace, "test-only bit-string space")
if "toy" not in EVALUATORS:
    EVALUATORS.add("toy", ToyEvaluator, "test-only deterministic evaluator")
