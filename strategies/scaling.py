"""EfficientNet compound scaling (Tan & Le, ICML 2019, §3.3 and §4) as a strategy for the ``mbconv`` space.

Compound scaling grows a base network (default EfficientNet-B0) in depth, width and
resolution together: ``depth = α^φ``, ``width = β^φ``, ``resolution = γ^φ`` with
``α·β²·γ² ≈ 2`` and ``α, β, γ ≥ 1``, so that FLOPs grow by about ``2^φ``.

* **Step 1** (φ = 1): a small grid search over (α, β, γ). The grid is every combination of
  ``alpha_grid × beta_grid × gamma_grid`` (each defaults to ``grid`` = 1.0, 1.05, ..., 1.5)
  with ``|α·β²·γ² − target| <= tolerance`` (target 2, tolerance 0.1); the paper's
  α = 1.2, β = 1.1, γ = 1.15 (product 1.92) is on the default grid. Each point is proposed
  as the base architecture with macro ``depth = base_depth·α``, ``width = base_width·β``,
  ``resolution = round(base_resolution·γ)`` (:func:`search_spaces.mbconv.with_macro`).
  Grid points are proposed in a seeded random order, so a search whose trial budget ends
  before the grid does has evaluated a uniform sample of it.
* **Step 2**: once every grid result is in, the best point by the search objective
  (``mnas``, ACC·(MACs/T)^w, is the paper's choice; ``accuracy`` works too) is scaled to
  φ = 2 .. ``max_phi`` (default 3): ``depth = base_depth·α^φ``, ``width = base_width·β^φ``,
  ``resolution = round(base_resolution·γ^φ)``. Rounding is ``floor(x + 0.5)``.
  :meth:`CompoundScaling.done` is true once all of them are told (or when no grid point
  succeeded: there is nothing to scale).

The model sees the resolution relative to the dataset (``search_spaces.mbconv`` resolution
rule: the native image size stands for 224 px), so γ matters on every dataset. Published
B1–B7 use hand-set coefficients (tensorflow/tpu efficientnet_builder.py ``efficientnet_params``), not exact α^φ values.

Options: ``base`` (zoo name or architecture YAML path in the ``mbconv`` space; default
``efficientnet-b0``), ``grid``, ``alpha_grid``, ``beta_grid``, ``gamma_grid`` (lists of
numbers >= 1), ``target`` (2.0), ``tolerance`` (0.1), ``max_phi`` (3, >= 1).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from nas.arch import Architecture
from nas.errors import ConfigError, NasError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import float_option, int_option
from strategies.base import Strategy

#: 1.0, 1.05, ..., 1.5 (Tan & Le 2019 §4: the found 1.2, 1.1, 1.15 lie on it)
DEFAULT_GRID: tuple[float, ...] = tuple(round(1.0 + 0.05 * k, 2) for k in range(11))


def _values(name: str, values: Any) -> list[float]:
    """A non-empty list of distinct numbers >= 1, sorted."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"strategy 'scaling': option {name!r} must be a non-empty list of numbers, got {values!r}")
    out = set()
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 1.0:
            raise ConfigError(f"strategy 'scaling': option {name!r} needs numbers >= 1 "
                              f"(compound scaling only grows the base), got {v!r}")
        out.add(float(v))
    return sorted(out)


def compound_grid(alphas: Sequence[float], betas: Sequence[float], gammas: Sequence[float],
                  target: float = 2.0, tolerance: float = 0.1) -> list[tuple[float, float, float]]:
    """All (α, β, γ) with ``|α·β²·γ² − target| <= tolerance``, in lexicographic order."""
    eps = 1e-9  # 1.2·1.1²·1.15² is not exactly 1.92 in binary floating point
    return [(a, b, g) for a in alphas for b in betas for g in gammas
            if abs(a * b * b * g * g - target) <= tolerance + eps]


def scaled(base: Architecture, alpha: float, beta: float, gamma: float, phi: int) -> Architecture:
    """``base`` with depth·α^φ, width·β^φ, resolution·γ^φ (rounded half up)."""
    from search_spaces.mbconv import with_macro

    m = base.macro
    resolution = int(math.floor(m["resolution"] * gamma ** phi + 0.5))
    return with_macro(base, depth=m["depth"] * alpha ** phi, width=m["width"] * beta ** phi, resolution=resolution)


class CompoundScaling(Strategy):
    """EfficientNet compound scaling (see the module docstring)."""

    name = "scaling"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        objective: Objective | None = None,
        base: str | None = None,
        grid: Sequence[float] | None = None,
        alpha_grid: Sequence[float] | None = None,
        beta_grid: Sequence[float] | None = None,
        gamma_grid: Sequence[float] | None = None,
        target: float = 2.0,
        tolerance: float = 0.1,
        max_phi: int = 3,
    ) -> None:
        if getattr(space, "name", None) != "mbconv":
            raise ConfigError(f"strategy 'scaling' scales EfficientNet-style networks and needs the 'mbconv' space, "
                              f"got space {getattr(space, 'name', space)!r}; use --space mbconv")
        super().__init__(space, seed=seed, objective=objective)
        self.base_name = "efficientnet-b0" if base is None else str(base)
        self.base = self._load_base(self.base_name)
        shared = _values("grid", DEFAULT_GRID if grid is None else grid)
        self.alpha_grid = shared if alpha_grid is None else _values("alpha_grid", alpha_grid)
        self.beta_grid = shared if beta_grid is None else _values("beta_grid", beta_grid)
        self.gamma_grid = shared if gamma_grid is None else _values("gamma_grid", gamma_grid)
        self.target = float_option(self.name, "target", target, 1.0, finite=True)
        self.tolerance = float_option(self.name, "tolerance", tolerance, 0.0, finite=True)
        self.max_phi = int_option(self.name, "max_phi", max_phi)
        points = compound_grid(self.alpha_grid, self.beta_grid, self.gamma_grid, self.target, self.tolerance)
        if not points:
            raise ConfigError(f"strategy 'scaling': no grid point has alpha*beta^2*gamma^2 within "
                              f"{self.tolerance:g} of {self.target:g}; widen the grid or the tolerance")
        self.rng.shuffle(points)
        self.grid: list[tuple[float, float, float]] = points
        self.next_grid = 0
        self.next_phi = 2
        self.best: tuple[float, float, float] | None = None
        self.best_score: float | None = None
        self.grid_told = 0
        # asked, not yet told: id -> {"phase": "grid" | "scale", "coef": [a, b, g], "phi": int}
        self.pending: dict[str, dict[str, Any]] = {}
        self.scale_told = 0

    @property
    def n_scale(self) -> int:
        """Scaled models asked so far (φ = 2 .. next_phi - 1)."""
        return self.next_phi - 2

    def _load_base(self, name: str) -> Architecture:
        from nas.zoo import resolve_arch

        try:
            arch = resolve_arch(name)
        except NasError as e:
            raise ConfigError(f"strategy 'scaling': option 'base': {e}") from None
        if arch.space != "mbconv":
            raise ConfigError(f"strategy 'scaling': option 'base' must be an mbconv architecture, "
                              f"got space {arch.space!r} ({name})")
        self.space.validate(arch)
        return Architecture(arch.space, blocks=arch.blocks, macro=arch.macro)  # meta (name, notes) dropped

    # -- ask ----------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        if self.next_grid < len(self.grid):
            coef = self.grid[self.next_grid]
            self.next_grid += 1
            return self._propose("grid", coef, 1)
        if self.grid_told < len(self.grid) or self.best is None or self.next_phi > self.max_phi:
            return None  # grid results still running, nothing to scale, or all scaled models asked
        phi = self.next_phi
        self.next_phi += 1
        return self._propose("scale", self.best, phi)

    def _propose(self, phase: str, coef: tuple[float, float, float], phi: int) -> Proposal:
        a, b, g = coef
        arch = scaled(self.base, a, b, g, phi)
        pid = self.new_id()
        self.pending[pid] = {"phase": phase, "coef": [a, b, g], "phi": phi}
        info = {"origin": "scaling", "phase": phase, "alpha": a, "beta": b, "gamma": g, "phi": phi,
                "flops_factor": (a * b * b * g * g) ** phi, "base": self.base_name}
        return Proposal(pid, arch, info=info)

    # -- tell ------------------------------------------------------------------------------
    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        if entry["phase"] == "scale":
            self.scale_told += 1
            return
        self.grid_told += 1
        score = self.objective.score(result)
        if score is not None and (self.best_score is None or score > self.best_score):
            a, b, g = entry["coef"]
            self.best, self.best_score = (a, b, g), float(score)

    def done(self) -> bool:
        """All grid points and scaled models are told, or no grid point succeeded."""
        if self.grid_told < len(self.grid):
            return False
        if self.best is None:
            return True
        return self.next_phi > self.max_phi and self.scale_told == self.n_scale

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "options": {"base": self.base_name, "alpha_grid": self.alpha_grid, "beta_grid": self.beta_grid,
                        "gamma_grid": self.gamma_grid, "target": self.target, "tolerance": self.tolerance,
                        "max_phi": self.max_phi},
            "grid": [list(p) for p in self.grid],
            "next_grid": self.next_grid,
            "grid_told": self.grid_told,
            "best": None if self.best is None else list(self.best),
            "best_score": self.best_score,
            "next_phi": self.next_phi,
            "scale_told": self.scale_told,
            "pending": {pid: dict(p) for pid, p in self.pending.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.grid = [(float(a), float(b), float(g)) for a, b, g in state["grid"]]
        self.next_grid = int(state["next_grid"])
        self.grid_told = int(state["grid_told"])
        best = state["best"]
        self.best = None if best is None else (float(best[0]), float(best[1]), float(best[2]))
        self.best_score = state["best_score"]
        self.next_phi = int(state["next_phi"])  # older snapshots also hold "n_scale" (= next_phi - 2)
        self.scale_told = int(state["scale_told"])
        self.pending = {pid: {"phase": p["phase"], "coef": [float(v) for v in p["coef"]], "phi": int(p["phi"])}
                        for pid, p in state["pending"].items()}
