"""The zero-cost proxy pre-screen behind a warm start: rank sampled architectures without training.

Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, §5 ("warmup"): score a
pool of ``N`` sampled architectures with a zero-cost proxy and start the search from the best
ones; Mellor et al., ICML 2021, §5, use NASWOT the same way to pick candidates without training.
:func:`prescreen` does that on the search's own data and models:

* the ``N`` architectures are drawn with ``space.sample`` from an RNG derived from the search
  seed only (:func:`sample_pool`), distinct by ``Architecture.key`` (fewer if the space is small);
* each is built with the search's build settings (:func:`nas.settings.build_settings`, as the
  trials are), its weights seeded with the search seed, and scored by one proxy
  (:mod:`evaluators.proxies`) on one minibatch of the training split: the batch every trial's
  proxies use (:func:`evaluators.proxies.proxy_batch`), with the trials' CPU thread policy
  (:func:`evaluators.candidate.set_threads`);
* the ``K`` best scores are the seeds, ties broken by the sampling order; an architecture the proxy
  cannot score (a build error, a non-finite value) ranks below all others and never seeds.

Everything is deterministic for a fixed seed, so a pre-screen interrupted by a crash can simply
be computed again. Torch's global RNG state and thread count are restored afterwards.

It runs in the driver's process. Most proxies call ``backward``; that is safe because the local
evaluator's workers start from a clean fork server (:mod:`evaluators.local_pool`), never from a
fork of the driver, whose autograd engine PyTorch cannot carry into a forked child.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from evaluators.candidate import set_threads
from evaluators.proxies import check_proxies, proxy_batch, proxy_scores
from nas.arch import Architecture
from nas.errors import ConfigError, as_machine_fault, is_machine_fault
from nas.settings import build_settings

#: draws per wanted architecture before a small space counts as exhausted
TRIES_PER_SAMPLE = 20


@dataclass
class PrescreenResult:
    """What :func:`prescreen` found: the pool in sampling order, its scores and the top ``K``."""

    proxy: str
    archs: list[Architecture]
    scores: list[float | None]  # one per arch; None: the proxy could not score it
    top: list[int]              # indices into ``archs``, best first
    seconds: float              # wall time of sampling, building and scoring (not data loading)
    errors: dict[int, str] = field(default_factory=dict)  # index -> why it has no score

    @property
    def seeds(self) -> list[Architecture]:
        """The top-``K`` architectures, best first: what the strategy is warm-started with."""
        return [self.archs[i] for i in self.top]


def check_proxy(name: Any) -> str:
    """The proxy name of a warm start, checked against :data:`evaluators.proxies.PROXIES` (ConfigError)."""
    if not isinstance(name, str):
        raise ConfigError(f"warm start: proxy must be a name, got {name!r}")
    return check_proxies([name])[0]


def prescreen_device(spec: Any) -> torch.device:
    """Where the pre-screen runs on the driver's machine: the search's ``device`` if this machine
    has it, else the CPU (the trials may run on cluster GPUs the driver lacks)."""
    from evaluators.trainer import resolve_device

    try:
        return resolve_device(spec)
    except ConfigError:
        return torch.device("cpu")


def sample_pool(space: Any, n: int, seed: int) -> list[Architecture]:
    """Up to ``n`` distinct architectures (by key) of ``space``, from an RNG derived from ``seed``."""
    rng = random.Random(f"nas-warm-start:{int(seed)}")
    out: dict[str, Architecture] = {}
    for _ in range(TRIES_PER_SAMPLE * n):
        arch = space.sample(rng)
        out.setdefault(arch.key, arch)
        if len(out) >= n:
            break
    return list(out.values())


def rank(scores: list[float | None], k: int) -> list[int]:
    """Indices of the ``k`` best scores (larger is better), ties by index; None never ranks."""
    ok = [i for i, s in enumerate(scores) if s is not None]
    ok.sort(key=lambda i: (-scores[i], i))  # type: ignore[operator]
    return ok[:max(0, k)]


def prescreen(space: Any, config: Any, data: Any, *, proxy: str, samples: int, top: int) -> PrescreenResult:
    """Score ``samples`` sampled architectures with ``proxy`` and keep the ``top`` best.

    ``config`` is the search's :class:`~nas.config.SearchConfig` (its ``seed``, ``batch_size`` and
    build settings); ``data`` the search dataset (:func:`evaluators.data.load_for_config`). The
    models and the batch live on the data's device.
    """
    proxy = check_proxy(proxy)
    t0 = time.perf_counter()
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    try:
        archs = sample_pool(space, samples, config.seed)
        settings = build_settings(space, data.info, config)
        x, y = proxy_batch(data, config.batch_size, config.seed)
        trial_threads = (getattr(config, "evaluator_options", None) or {}).get("threads")
        set_threads(trial_threads, x.device, data.info)  # the trials' CPU thread policy (digits: one thread)
        scores: list[float | None] = []
        errors: dict[int, str] = {}
        for i, arch in enumerate(archs):
            try:
                got, _ = proxy_scores(lambda a=arch: space.build(a, **settings), [proxy], x, y, config.seed)
            except Exception as e:  # noqa: BLE001 - a candidate that cannot be built or scored ranks last
                if is_machine_fault(e):
                    raise as_machine_fault(e) from e
                scores.append(None)
                errors[i] = f"{type(e).__name__}: {e}"[:300]
                continue
            value = got.get(f"proxy_{proxy}")
            if value is None:
                errors[i] = f"proxy {proxy!r} gave no finite score for this network"
            scores.append(value)
    finally:
        torch.set_rng_state(state)
        torch.set_num_threads(threads)
    return PrescreenResult(proxy, archs, scores, rank(scores, top), time.perf_counter() - t0, errors)

