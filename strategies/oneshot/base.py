"""The one-shot method contract: a weight-sharing search run as one trial.

A one-shot method (Liu et al., ICLR 2019, DARTS; and the methods that share its supernet)
trains the **supernet** a search space offers (:meth:`SearchSpace.supernet
<search_spaces.base.SearchSpace.supernet>`: a mixed op on every candidate edge, with
architecture parameters beside the weights) and then **derives** one discrete architecture from
it (:meth:`SearchSpace.derive <search_spaces.base.SearchSpace.derive>`: the rule is the space's,
e.g. DARTS' two strongest non-``none`` edges per node). A method is a registered component
(:data:`nas.registry.ONESHOT`, entries in :mod:`strategies`) that knows nothing about space
names; the generic :class:`strategies.oneshot.strategy.OneShotStrategy` runs any of them.

A method provides

* :attr:`OneShotMethod.name` and :attr:`OneShotMethod.defaults`, its options with the paper's
  values; :meth:`OneShotMethod.check_options` merges given options over them and raises a
  :class:`~nas.errors.ConfigError` naming a bad or unknown one (the ``validate`` hook);
* :meth:`OneShotMethod.check` ``(space)``: refuses a space without a supernet (ConfigError naming
  the space), before anything runs;
* :meth:`OneShotMethod.run` ``(space, proposal, config, data, *, device, checkpoint,
  on_epoch=None) -> Result``: the trial. It never raises for a failing search (divergence, out of
  memory, a bad setting become ``failed``, the trial timeout ``timeout``); it checkpoints after
  every epoch to ``checkpoint`` and a re-run continues from there (``worker["resumed_from_epoch"]``);
  an ok result carries the derived architecture in ``Result.arch``;
* :meth:`OneShotMethod.derive` ``(space, supernet, meta)``: the derived architecture, with the
  softmax of every architecture parameter in its ``meta`` (and the ``skip_cap`` guard applied when
  the method's options select it);
* optionally :meth:`OneShotMethod.diagnose`: the per-epoch collapse diagnostics of a method whose
  options include :data:`DIAGNOSTIC_DEFAULTS` (checked by :func:`validate_diagnostics`).

The supernet (e.g. ``nas.nn.supernet.DartsSupernet``) offers ``arch_parameters()``,
``named_weights()`` / ``weights()`` (every other parameter) and ``primitives`` (the column order of
the architecture parameters). The helpers below (:func:`split_source`, :func:`load_state`,
:func:`arch_weights`) are shared by the methods.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.types import Proposal, Result


class OneShotMethod(ABC):
    """Base class of every registered one-shot method (see the module docstring)."""

    name: ClassVar[str]
    #: the method's options with the paper's defaults
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = self.check_options(options)

    # -- options ---------------------------------------------------------------------------
    @classmethod
    def check_options(cls, given: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
        """:attr:`defaults` updated with ``given``; ConfigError on an unknown key or a bad value."""
        where = where or f"one-shot method {cls.name!r}"
        bad = sorted(set(given) - set(cls.defaults))
        if bad:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(bad)}; known: {', '.join(cls.defaults)}")
        return cls.validate({**cls.defaults, **given}, where)

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        """Check (and normalise) a full option mapping; raise ConfigError naming the option."""
        return options

    def describe(self) -> str:
        """A human-readable label, e.g. ``DARTS (first order)``."""
        return self.name

    # -- the space -------------------------------------------------------------------------
    def check(self, space: Any) -> None:
        """Refuse a space that offers no supernet (ConfigError naming the space)."""
        if not space.has_supernet():
            raise ConfigError(f"one-shot method {self.name!r} needs a search space with a supernet; "
                              f"space {space.name!r} offers none")

    # -- the trial -------------------------------------------------------------------------
    @abstractmethod
    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        """Train the supernet, derive an architecture, return the trial's result (module docstring).

        ``on_epoch(row)`` is called after each epoch's checkpoint is written (tests, progress).
        """

    def derive(self, space: Any, supernet: Any, meta: dict[str, Any] | None = None) -> Architecture:
        """The space's derived architecture, ``meta`` + the softmax of each architecture parameter.

        With the ``skip_cap`` guard among the method's ``guards`` option (:data:`DIAGNOSTIC_DEFAULTS`)
        the normal cell keeps at most ``max_skips`` skip connections (P-DARTS, Chen et al. 2019, §3.3;
        :func:`strategies.oneshot.guards.capped_derive`).
        """
        meta = {**(meta or {}), "primitives": list(supernet.primitives), **arch_weights(supernet)}
        if "skip_cap" in (self.options.get("guards") or ()):
            from strategies.oneshot.guards import capped_derive

            return capped_derive(space, supernet, meta, int(self.options["max_skips"]))
        return space.derive(supernet, meta)

    # -- collapse diagnostics (optional: for methods whose options include DIAGNOSTIC_DEFAULTS) --
    def diagnose(self, space: Any, supernet: Any, derived: Architecture, epoch: int, source: Any,
                 batch_size: int, seed: int) -> dict[str, Any]:
        """The per-epoch collapse diagnostics of ``derived`` (:mod:`strategies.oneshot.diagnostics`).

        ``param_free_share`` and ``entropy`` always; ``hessian_eigenvalue`` every ``hessian_every``
        epochs (option; 0 = never), on one batch of ``source`` drawn with its own generator
        (seeded by ``seed`` and ``epoch``, torch's RNG state forked), so the search's random
        streams, and therefore a resumed search, are unaffected. ``table_<column>`` are the
        NB201 table's numbers for ``derived`` (:func:`table_lookup`, option ``table``).
        """
        import torch

        from strategies.oneshot.diagnostics import dominant_eigenvalue, mean_entropy, param_free_share

        row: dict[str, Any] = {"param_free_share": param_free_share(derived), "entropy": mean_entropy(supernet)}
        text = space.to_text(derived)
        if text is not None:
            row["arch_text"] = text
        every = int(self.options.get("hessian_every") or 0)
        if every > 0 and epoch % every == 0:
            with torch.random.fork_rng(devices=[]):
                gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
                x, y = source.sample(batch_size, gen)
                row["hessian_eigenvalue"] = dominant_eigenvalue(
                    supernet, x, y, iters=int(self.options.get("hessian_iters", 20)), seed=seed + epoch)
        lookup = table_lookup(space, derived, self.options.get("table"))
        if lookup is not None:
            row.update({k: v for k, v in lookup.items() if k in TABLE_METRICS})
        return row


# -- options shared by the methods that record diagnostics and offer the guards -----------------
#: ``hessian_every`` (epochs between eigenvalue measurements, 0 = off), ``hessian_iters`` (power
#: iterations), ``guards`` (:data:`strategies.oneshot.guards.GUARDS`), their papers' parameters, and
#: ``table`` (``auto``: the packaged NB201 CIFAR-10 table for spaces that write NB201 strings;
#: ``none``: no lookup; else a CSV path with the same columns)
DIAGNOSTIC_DEFAULTS: dict[str, Any] = {
    "hessian_every": 1, "hessian_iters": 20, "guards": [], "early_stop_window": 5, "early_stop_ratio": 0.75,
    "max_skips": 2, "table": "auto",
}


#: the table lookups recorded per epoch and in ``metrics`` (the NB201 search signal and reported number)
TABLE_METRICS = ("table_cifar10_valid_acc_12ep", "table_cifar10_test_acc_200ep")


def validate_diagnostics(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Check and normalise the :data:`DIAGNOSTIC_DEFAULTS` entries of ``options`` (ConfigError naming one)."""
    import math

    from strategies.oneshot.guards import check_guards

    s = dict(options)
    for key, lo in (("hessian_every", 0), ("hessian_iters", 1), ("early_stop_window", 1), ("max_skips", 0)):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > 100_000:
            raise ConfigError(f"{where}: {key} must be an integer >= {lo}, got {v!r}")
    r = s["early_stop_ratio"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or not 0 < r <= 1:
        raise ConfigError(f"{where}: early_stop_ratio must be a number in (0, 1], got {r!r}")
    s["early_stop_ratio"] = float(r)
    s["guards"] = check_guards(s["guards"], where)
    if "early_stop" in s["guards"] and s["hessian_every"] == 0:
        raise ConfigError(f"{where}: guards: early_stop needs the Hessian eigenvalue (hessian_every > 0)")
    t = s["table"]
    if t is not None and (not isinstance(t, str) or not t.strip()):
        raise ConfigError(f"{where}: table must be 'auto', 'none' or a CSV path, got {t!r}")
    s["table"] = "none" if t is None else t
    return s


def table_lookup(space: Any, arch: Architecture, table: str | None) -> dict[str, Any] | None:
    """The NAS-Bench-201 table's row for ``arch``, its numeric columns as ``table_<column>``; or None.

    A **table lookup**: the numbers describe the benchmark's CIFAR-10 training of this cell (Dong &
    Yang, ICLR 2020), not the dataset the search ran on. ``table``: ``auto`` = the packaged CIFAR-10
    table (:data:`evaluators.tabular.DEFAULT_TABLE`), ``none`` = no lookup, else a CSV path with an
    ``arch`` column of NB201 strings. None when there is no table, the space writes no NB201 string
    for ``arch``, or the table lacks the cell. A missing or malformed file is a ConfigError.
    """
    import math

    from evaluators.tabular import DEFAULT_TABLE, load_table, nb201_edges

    if table is None or table == "none":
        return None
    text = space.to_text(arch, "nb201")
    if text is None:
        return None
    t = load_table(DEFAULT_TABLE if table == "auto" else table)
    row = t.index.get(nb201_edges(text))
    if row is None:
        return None
    out: dict[str, Any] = {"table_file": str(t.path), "table_arch": text}
    for col in t.header:
        if col in ("arch", "arch_index"):
            continue
        try:
            v = t.column(col)[row]
        except ConfigError:
            continue
        if math.isfinite(v):
            out[f"table_{col}"] = v
    return out


# -- helpers shared by the methods ---------------------------------------------------------------
def arch_weights(supernet: Any) -> dict[str, list[list[float]]]:
    """``{parameter name: softmax over its last axis}`` of every architecture parameter (CPU lists)."""
    import torch
    import torch.nn.functional as F

    ids = {id(p) for p in supernet.arch_parameters()}
    with torch.no_grad():
        return {n: F.softmax(p.detach().float().cpu(), dim=-1).tolist()
                for n, p in supernet.named_parameters() if id(p) in ids}


def split_source(source: Any, portion: float, seed: int) -> tuple[Any, Any]:
    """Split a batch source into ``(first, rest)`` by a seeded permutation (DARTS: 25k/25k of CIFAR-10).

    Each part keeps the source's augmentation settings. Works for in-memory
    ``TensorSource`` splits and streamed ``LoaderSource`` ones.
    """
    import torch

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


def load_state(path: Path | None, fmt: str, what: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was written with exactly ``settings``; else None.

    A checkpoint that is unreadable, of another format or of other settings (e.g. after a resume
    with ``--force``) is deleted: the search starts over rather than mixing two searches.
    """
    from evaluators.checkpoint import read_state

    if path is None or not path.exists():
        return None
    try:
        state: dict[str, Any] | None = read_state(path, fmt, what)
    except ConfigError:
        state = None
    if state is None or state.get("settings") != settings:
        path.unlink(missing_ok=True)
        return None
    return state
