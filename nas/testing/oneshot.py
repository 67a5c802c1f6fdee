"""``OneShotConformance``: the one-shot method contract (:mod:`strategies.oneshot.base`) as pytest tests.

Subclass it and provide ``method``, a fixture returning a factory ``(**options) -> OneShotMethod``
(and optionally ``space``, a space with a supernet, default the registered ``darts`` space), and
list option mappings the method must refuse in :attr:`OneShotConformance.bad_options`::

    import pytest
    from nas.testing import OneShotConformance

    class TestMyMethod(OneShotConformance):
        bad_options = [{"temperature": -1.0}]

        @pytest.fixture
        def method(self):
            return MyMethod

Everything runs on real computation, kept tiny: the supernet at ``channels=2``, 3 cells, on 48
training and 64 validation ``digits`` images, batch 24 (one step per epoch), on the CPU. The
checks: options (defaults JSON-serializable, unknown and bad options are
:class:`~nas.errors.ConfigError`), a space without a supernet is refused naming it, a trial
returns an ok result whose architecture is valid in the space, builds and runs, and survives a
JSON round trip; a search killed after its first epoch's checkpoint and run again ends with exactly
the uninterrupted search's architecture, architecture weights and accuracy and reports the epoch
it resumed from; divergence and the trial timeout are results, not exceptions; and, for a
registered method, the ``oneshot`` trial runner runs it from a proposal.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, ClassVar

import pytest

from nas.arch import Architecture
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies.oneshot.base import OneShotMethod
from strategies.oneshot.strategy import ONESHOT_RUNNER


class Killed(BaseException):
    """Stands for the process dying right after an epoch's checkpoint was written."""


def _registries() -> Any:
    from nas import registry

    registry.load_plugins()
    return registry


class OneShotConformance:
    """The one-shot method contract; provide ``method`` (and optionally ``space``, ``bad_options``)."""

    #: option mappings that :meth:`OneShotMethod.check_options` must refuse with a ConfigError
    bad_options: ClassVar[list[dict[str, Any]]] = []
    #: supernet and data size of every trial here (tiny, to keep the suite at a few seconds)
    channels, layers, n_train, n_val, batch_size = 2, 3, 48, 64, 24

    # -- fixtures -----------------------------------------------------------------------------
    @pytest.fixture
    def method(self) -> Callable[..., OneShotMethod]:
        raise NotImplementedError("a OneShotConformance subclass provides the `method` fixture")

    @pytest.fixture
    def space(self) -> SearchSpace:
        return _registries().SPACES.create("darts")

    @pytest.fixture(scope="class")
    def data(self) -> Any:
        from evaluators.batches import TensorSource
        from evaluators.data import DataBundle, load_data

        d = load_data("digits", seed=0)
        return DataBundle(d.info, TensorSource(d.train.x[:self.n_train], d.train.y[:self.n_train]),
                          TensorSource(d.val.x[:self.n_val], d.val.y[:self.n_val]), d.test)

    def config(self, **kw: Any) -> SearchConfig:
        """The search config of the trials here (``epochs`` 2 unless given)."""
        return SearchConfig(**{"space": "darts", "epochs": 2, "batch_size": self.batch_size,
                               "channels": self.channels, "layers": self.layers, **kw})

    def proposal(self, m: OneShotMethod) -> Proposal:
        return Proposal("t00000", None, {"method": m.name, **m.options}, runner=ONESHOT_RUNNER)

    # -- options --------------------------------------------------------------------------------
    def test_defaults_are_plain_data_and_complete(self, method):
        m = method()
        assert isinstance(m, OneShotMethod) and isinstance(m.name, str) and m.name
        assert set(m.options) == set(type(m).defaults)
        assert json.loads(json.dumps(m.options)) == m.options, "options must be JSON data (they go to the journal)"
        assert m.check_options(m.options) == m.options, "validating valid options must keep them"
        assert isinstance(m.describe(), str) and m.describe()

    def test_unknown_option_is_a_config_error_naming_it(self, method):
        with pytest.raises(ConfigError, match="no_such_option"):
            method(no_such_option=1)

    def test_bad_options_are_config_errors(self, method):
        if not self.bad_options:
            pytest.skip("no bad_options listed for this method")
        for bad in self.bad_options:
            with pytest.raises(ConfigError, match=next(iter(bad))):
                method(**bad)

    # -- the space ------------------------------------------------------------------------------
    def test_space_has_a_supernet(self, method, space):
        assert space.has_supernet()
        method().check(space)  # no error

    def test_refuses_a_space_without_supernet_naming_it(self, method):
        reg = _registries()
        plain = next((s for s in map(reg.SPACES.create, reg.SPACES.names()) if not s.has_supernet()), None)
        if plain is None:
            pytest.skip("every registered space offers a supernet")
        with pytest.raises(ConfigError, match=repr(plain.name)):
            method().check(plain)

    # -- the trial --------------------------------------------------------------------------------
    def test_trial_derives_a_valid_architecture_that_builds(self, method, space, data):
        m = method()
        res = m.run(space, self.proposal(m), self.config(epochs=1), data, device="cpu")
        assert isinstance(res, Result) and res.status == "ok", res.error
        arch = res.arch
        assert isinstance(arch, Architecture) and arch.space == space.name
        space.validate(arch)
        assert Architecture.from_dict(json.loads(json.dumps(res.to_dict()["result_arch"]))) == arch
        assert 0.0 <= res.metrics["val_acc"] <= 100.0 and res.metrics["epochs"] == 1
        assert len(res.report["history"]) == 1
        import torch

        from nas.settings import build_settings

        net = space.build(arch, **build_settings(space, data.info, self.config()))
        out = net(data.val.x[:4].cpu())
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape == (4, data.info.num_classes) and bool(torch.isfinite(out).all())

    def test_killed_search_resumes_to_the_uninterrupted_result(self, method, space, data, tmp_path: Path):
        m = method()
        p, cfg = self.proposal(m), self.config()
        full = m.run(space, p, cfg, data, device="cpu", checkpoint=tmp_path / "full.pt")
        assert full.status == "ok", full.error
        assert not (tmp_path / "full.pt").exists(), "the checkpoint must be removed with the result"

        def die(row: dict[str, Any]) -> None:
            raise Killed

        ckpt = tmp_path / "killed.pt"
        with pytest.raises(Killed):
            method().run(space, p, cfg, data, device="cpu", checkpoint=ckpt, on_epoch=die)
        assert ckpt.exists(), "no checkpoint after the first epoch"
        resumed = method().run(space, p, cfg, data, device="cpu", checkpoint=ckpt)
        assert resumed.status == "ok", resumed.error
        assert resumed.worker["resumed_from_epoch"] == 1 and not ckpt.exists()
        assert resumed.arch == full.arch and resumed.arch.meta == full.arch.meta  # α's softmax included
        assert resumed.metrics["val_acc"] == full.metrics["val_acc"]
        drop = ("seconds",)
        assert ([{k: v for k, v in r.items() if k not in drop} for r in resumed.report["history"]]
                == [{k: v for k, v in r.items() if k not in drop} for r in full.report["history"]])

    def test_divergence_and_timeout_are_results(self, method, space, data):
        import torch

        from evaluators.batches import TensorSource
        from evaluators.data import DataBundle

        m = method()
        nan = TensorSource(torch.full_like(data.train.x, float("nan")), data.train.y)
        res = m.run(space, self.proposal(m), self.config(), DataBundle(data.info, nan, data.val, data.test),
                    device="cpu")
        assert res.status == "failed" and res.error and res.arch is None
        res = m.run(space, self.proposal(m), self.config(trial_timeout=1e-6), data, device="cpu")
        assert res.status == "timeout" and res.arch is None
        assert res.cost is not None and math.isfinite(res.cost)

    def test_the_oneshot_runner_runs_a_registered_method(self, method, space, data, tmp_path: Path):
        reg = _registries()
        m = method()
        if m.name not in reg.ONESHOT:
            pytest.skip(f"method {m.name!r} is not registered in nas.registry.ONESHOT")
        run_trial = reg.TRIALS.get(ONESHOT_RUNNER)
        res = run_trial(space, self.proposal(m), self.config(epochs=1), data, device="cpu", checkpoint_dir=tmp_path)
        assert res.status == "ok" and res.arch is not None, res.error
        assert res.worker["resumed_from_epoch"] == 0 and not list(tmp_path.iterdir())
        bad = Proposal("t00001", None, {"method": m.name, "no_such_option": 1}, runner=ONESHOT_RUNNER)
        res = run_trial(space, bad, self.config(epochs=1), data, device="cpu")
        assert res.status == "failed" and "no_such_option" in res.error
