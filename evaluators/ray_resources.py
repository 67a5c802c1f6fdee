"""Options of the ``ray`` evaluator and the per-trial resource plan (no Ray import here).

:func:`plan_resources` turns the cluster's per-node resources (``ray.nodes()[i]["Resources"]``,
plain dicts such as ``{"CPU": 8.0, "GPU": 2.0}``) and the requested ``gpus_per_trial`` /
``cpus_per_trial`` into a :class:`ResourcePlan`: what each trial task asks Ray for, and how
many trials the cluster can run at once. Requests the cluster can never satisfy are refused
here with a :class:`~nas.errors.ConfigError` (exit code 2), because Ray would otherwise keep
such a task pending forever. Kept free of Ray so the logic is unit-tested with fake clusters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from nas.errors import ConfigError

#: Ray keeps fractional resources to 4 decimals; this absorbs float error in divisions.
EPS = 1e-6


@dataclass(frozen=True)
class RayOptions:
    """``evaluator_options`` of the ``ray`` evaluator (CLI flags in brackets).

    ``address`` [``--address``]: ``auto``, ``HOST:PORT`` or ``local`` (a private instance);
    unset: ``RAY_ADDRESS``, else a private instance. ``gpus_per_trial``
    [``--gpus-per-trial``]: fractions pack several trials on one GPU; unset: 1 when the
    cluster has GPUs (and ``device`` is not ``cpu``), else 0. ``cpus_per_trial``
    [``--cpus-per-trial``] (default 1). ``storage`` [``--storage``]: a directory on storage
    every node sees, for per-epoch trial checkpoints and the kept trained weights
    (``<storage>/<run name>/``, :func:`nas.layout.trial_root`). ``max_retries``: Ray task retries after
    system failures (default 3). ``threads``: torch CPU threads per trial. ``num_cpus``: CPUs of
    a private local instance (default: all).
    """

    address: str | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: float = 1.0
    storage: str | None = None
    max_retries: int = 3
    threads: int | None = None
    num_cpus: int | None = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> "RayOptions":
        opts = dict(options or {})
        accepted = sorted(cls.__dataclass_fields__)
        unknown = sorted(set(opts) - set(accepted))
        if unknown:
            raise ConfigError(f"evaluator 'ray': unknown option(s) {', '.join(unknown)}; "
                              f"accepted: {', '.join(accepted)}")

        def bad(name: str, want: str) -> ConfigError:
            return ConfigError(f"evaluator 'ray': option {name} must be {want}, got {opts[name]!r}")

        for name in ("address", "storage"):
            if opts.get(name) is not None and (not isinstance(opts[name], str) or not opts[name].strip()):
                raise bad(name, "a non-empty string")
        for name in ("gpus_per_trial", "cpus_per_trial"):
            v = opts.get(name)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise bad(name, "a number >= 0")
                opts[name] = float(v)
        for name, low in (("max_retries", 0), ("threads", 1), ("num_cpus", 1)):
            v = opts.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise bad(name, f"an integer >= {low}")
        if opts.get("cpus_per_trial") is None:
            opts.pop("cpus_per_trial", None)
        if opts.get("max_retries") is None:
            opts.pop("max_retries", None)
        return cls(**opts)


@dataclass(frozen=True)
class ResourcePlan:
    """What one trial task requests, and how many fit in the cluster at once."""

    gpus_per_trial: float
    cpus_per_trial: float
    capacity: int
    total_gpus: float
    total_cpus: float
    nodes: int

    def describe(self) -> str:
        return (f"{self.capacity} trial(s) at once, {self.gpus_per_trial:g} GPU + {self.cpus_per_trial:g} CPU each "
                f"(cluster: {self.nodes} node(s), {self.total_cpus:g} CPU, {self.total_gpus:g} GPU)")


def _fits(have: float, need: float) -> float:
    """How many requests of ``need`` fit in ``have`` (infinite when nothing is needed)."""
    return math.inf if need <= 0 else math.floor(have / need + EPS)


def _cluster_text(nodes: Sequence[Mapping[str, float]]) -> str:
    cpus = sum(float(n.get("CPU", 0.0)) for n in nodes)
    gpus = sum(float(n.get("GPU", 0.0)) for n in nodes)
    return f"{len(nodes)} node(s), {cpus:g} CPU, {gpus:g} GPU"


def plan_resources(nodes: Sequence[Mapping[str, float]], gpus_per_trial: float | None = None,
                   cpus_per_trial: float = 1.0, device: str = "auto") -> ResourcePlan:
    """Resolve the per-trial request against the resources of the cluster's alive ``nodes``.

    A trial runs on one node, so capacity is the sum over nodes of how many requests fit in
    each (GPU and CPU both). Raises :class:`ConfigError` when GPUs are requested (by
    ``gpus_per_trial`` or ``device: cuda``) but the cluster has none, when no single node can
    hold one trial, or for a request Ray cannot express (more than one GPU, not a whole number).
    """
    total_gpus = sum(float(n.get("GPU", 0.0)) for n in nodes)
    total_cpus = sum(float(n.get("CPU", 0.0)) for n in nodes)
    if not nodes:
        raise ConfigError("the Ray cluster has no alive nodes")
    if device == "cpu":
        if gpus_per_trial:
            raise ConfigError(f"--gpus-per-trial {gpus_per_trial:g} conflicts with --device cpu")
        gpus = 0.0
    elif gpus_per_trial is None:
        if device.startswith("cuda") and total_gpus < 1:
            raise ConfigError(f"--device {device} asks for a GPU per trial, but the Ray cluster has no GPUs "
                              f"({_cluster_text(nodes)}); use --device cpu or add GPU nodes")
        gpus = 1.0 if total_gpus >= 1 else 0.0
    else:
        gpus = float(gpus_per_trial)
    cpus = float(cpus_per_trial)
    if gpus > 1 and abs(gpus - round(gpus)) > EPS:
        raise ConfigError(f"--gpus-per-trial {gpus:g}: above 1 it must be a whole number of GPUs")
    if gpus <= 0 and cpus <= 0:
        raise ConfigError("--cpus-per-trial 0 with no GPU per trial: a trial must request some CPU or GPU")
    if gpus > 0 and total_gpus <= 0:
        raise ConfigError(f"--gpus-per-trial {gpus:g}: the Ray cluster has no GPUs ({_cluster_text(nodes)}); "
                          "use --gpus-per-trial 0 to train on CPUs, or add GPU nodes")
    capacity = 0.0
    for n in nodes:
        capacity += min(_fits(float(n.get("GPU", 0.0)), gpus), _fits(float(n.get("CPU", 0.0)), cpus))
    if capacity <= 0:
        biggest = max(nodes, key=lambda n: (float(n.get("GPU", 0.0)), float(n.get("CPU", 0.0))))
        raise ConfigError(
            f"no node of the Ray cluster can run a trial needing {gpus:g} GPU and {cpus:g} CPU "
            f"(largest node: {float(biggest.get('CPU', 0.0)):g} CPU, {float(biggest.get('GPU', 0.0)):g} GPU); "
            "lower --gpus-per-trial / --cpus-per-trial"
        )
    return ResourcePlan(gpus, cpus, int(capacity), total_gpus, total_cpus, len(nodes))
