"""The resolved search configuration and its YAML form.

One flat :class:`SearchConfig` holds everything a search needs. Values come, in
increasing priority, from the dataclass defaults, a ``--config FILE.yaml`` and
command-line flags. ``run.yaml`` in the run directory stores the resolved config
(plus versions) and is the only config a resumed search reads.

Fields left ``None`` are filled per space and dataset (for example
``channels``/``layers``: see ``SearchSpace.build_defaults``).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nas.errors import ConfigError

#: fields a resumed search may change without ``--force``.
RESUME_MUTABLE = frozenset(
    {"budget", "time_budget", "max_concurrent", "evaluator", "evaluator_options", "trial_timeout",
     "data_dir", "download", "debug", "runs_dir", "device", "keep_weights"}
)


@dataclass
class SearchConfig:
    # what to search
    space: str = "nasnet"
    #: the data a space defined by data (a space file) is made from, stored by :func:`pin_space` so
    #: that the config alone recreates the space (resume elsewhere, export, Ray workers); None otherwise
    space_definition: dict[str, Any] | None = None
    strategy: str = "evolution"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    objective: str = "accuracy"
    objective_options: dict[str, Any] = field(default_factory=dict)
    # how much
    budget: int | None = 20            # number of trials; None = unlimited (needs time_budget)
    time_budget: float | None = None   # seconds of wall (or simulated) time
    max_concurrent: int | None = None  # None = what the evaluator can run at once
    # where and how to evaluate
    evaluator: str = "auto"            # auto | local | ray | tabular
    evaluator_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    # training recipe of one candidate ("search" recipe)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    channels: int | None = None
    layers: int | None = None
    trial_timeout: float | None = None  # seconds per trial
    keep_weights: int | None = 5       # trained weights kept for the top-k trials; None = all, 0 = none
    #: zero-cost proxies (evaluators/proxies.py) scored on one minibatch before each trial's training,
    #: journaled as metrics ``proxy_NAME`` (and ``proxy_seconds``); their time is part of the trial's cost
    proxies: list[str] = field(default_factory=list)
    #: warm start (README, "Warm start"): ``{proxy: NAME, samples: N, top: K}`` (N = 100, K = 10 when
    #: left out): a zero-cost proxy pre-screen of N sampled architectures whose K best seed the
    #: strategy (Abdelfattah et al., ICLR 2021, §5); resolved by :func:`warm_start_settings`
    warm_start: dict[str, Any] | None = None
    # bookkeeping
    seed: int = 0
    name: str | None = None
    runs_dir: str = "runs"
    debug: bool = False

    # -- conversion ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> "SearchConfig":
        cfg = cls()
        cfg.update(data, where)
        return cfg

    def update(self, data: Mapping[str, Any], where: str = "config") -> "SearchConfig":
        """Set fields from ``data`` with type checks; unknown fields are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in data.items():
            if key not in fields:
                raise ConfigError(f"{where}: unknown field {key!r}")
            setattr(self, key, _coerce(key, value, fields[key].type, where))
        self.check(where)
        return self

    def check(self, where: str = "config") -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{where}: field {name!r} {why}")

        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise bad(name, "must be >= 1")
        if self.keep_weights is not None and self.keep_weights < 0:
            raise bad("keep_weights", "must be >= 0 (or null to keep all)")
        for name in ("budget", "max_concurrent", "channels", "layers"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise bad(name, "must be >= 1")
        for name in ("time_budget", "trial_timeout"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise bad(name, "must be > 0")
        for name in ("lr", "momentum", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise bad(name, "must be a finite number >= 0")
        if self.budget is None and self.time_budget is None:
            raise bad("budget", "and 'time_budget' are both unset; the search would never stop")
        if self.name is not None and (not self.name or "/" in self.name or self.name.startswith(".")):
            raise bad("name", f"must be a plain directory name, got {self.name!r}")
        if self.warm_start is not None:
            warm_start_settings(self.warm_start, where)

    @classmethod
    def load(cls, path: str | Path) -> dict[str, Any]:
        """Read a config YAML file into a plain dict (validated by :meth:`update`)."""
        p = Path(path)
        from nas.limits import load_yaml_file  # size, depth and alias limits before parsing

        try:
            data = load_yaml_file(p)
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file") from None
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{p}: expected a mapping of settings, got {type(data).__name__}")
        cls.from_dict(data, where=str(p))  # validate eagerly so the error names the file
        return dict(data)


#: the warm-start keys and their defaults (``proxy`` has none: it must be given)
WARM_START_DEFAULTS = {"samples": 100, "top": 10}
#: the most architectures one pre-screen may score (each is built once)
WARM_START_MAX_SAMPLES = 100_000


def warm_start_settings(value: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """``{"proxy", "samples", "top"}`` of a ``warm_start`` field, defaults filled; ConfigError if malformed.

    The proxy's name is checked where proxies live (:func:`evaluators.proxies.check_proxies`).
    """
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{where}: field 'warm_start' {why}")

    unknown = sorted(set(value) - {"proxy", *WARM_START_DEFAULTS})
    if unknown:
        raise bad(f"has unknown key {unknown[0]!r}; accepted: proxy, samples, top")
    proxy = value.get("proxy")
    if not isinstance(proxy, str) or not proxy:
        raise bad(f"needs 'proxy', the name of a zero-cost proxy (e.g. naswot), got {proxy!r}")
    out: dict[str, Any] = {"proxy": proxy}
    for key, default in WARM_START_DEFAULTS.items():
        v = value.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= WARM_START_MAX_SAMPLES:
            raise bad(f"key {key!r} must be an integer in 1..{WARM_START_MAX_SAMPLES:,}, got {v!r}")
        out[key] = v
    if "top" not in value:  # the default K never exceeds a small pool
        out["top"] = min(out["top"], out["samples"])
    if out["top"] > out["samples"]:
        raise bad(f"key 'top' ({out['top']}) must be <= 'samples' ({out['samples']})")
    return out


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(key: str, value: Any, annotation: Any, where: str) -> Any:
    ann = str(annotation)
    optional = "None" in ann
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: field {key!r} may not be null")
    if ann.startswith("dict"):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: field {key!r} must be a mapping")
        return dict(value)
    if ann.startswith("list"):  # list[str]: a YAML list of names (a single name is accepted too)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v for v in items):
            raise ConfigError(f"{where}: field {key!r} must be a list of names, got {value!r}")
        return list(items)
    base = ann.split("|")[0].strip()
    typ = _TYPES[base]
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: field {key!r} must be true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: field {key!r} must be an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: field {key!r} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: field {key!r} must be a string, got {value!r}")
    return value


def pin_space(config: SearchConfig) -> None:
    """Make ``config`` self-contained about its space (in place).

    ``config.space`` may be anything :data:`nas.registry.SPACES` resolves (a registered name,
    or e.g. a space file). Afterwards it is the registered name, and ``space_definition`` holds
    the data of a space defined by data (None for spaces that are code). A config that already
    carries a definition registers it again (in a new process: a resumed run, a Ray worker).
    """
    from nas.registry import SPACES, load_plugins

    load_plugins()
    if config.space_definition is not None:
        name = SPACES.load(config.space_definition, where="config field 'space_definition'")
        if name != config.space:
            raise ConfigError(f"config: field 'space' is {config.space!r}, but field 'space_definition' "
                              f"defines space {name!r}")
    else:
        name = SPACES.resolve(config.space)
    definition = SPACES.definition(name)
    config.space, config.space_definition = name, None if definition is None else copy.deepcopy(definition)


def create_space(config: SearchConfig) -> Any:
    """The search space of ``config`` (after :func:`pin_space`): the one way to make it from a config."""
    from nas.registry import SPACES

    pin_space(config)
    return SPACES.create(config.space)

