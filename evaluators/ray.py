"""The ``ray`` evaluator: each trial is a Ray core task on a cluster.

Why plain Ray core and not Tune's Tuner: our run directory (``trials.jsonl``,
``strategy.json``) stays the only source of truth, and the driver's own ask/tell loop calls
:meth:`RayEvaluator.submit` / :meth:`RayEvaluator.results` around ``ray.wait``. (Tune's
restore lost strategy state; a core task killed with its node is simply retried.)

Connecting (:meth:`RayEvaluator.connect`, also done by :meth:`check`)
    ``address`` option (``--address auto|HOST:PORT``), else ``RAY_ADDRESS``, joins an existing
    cluster; with neither (or ``local``) a private instance starts with
    ``ray.init(address="local")`` (a bare ``ray.init()`` would silently attach to whatever
    cluster this machine last started). A private instance gets a watchdog
    (:mod:`evaluators.ray_reaper`) that kills whatever is left of it once the driver is gone,
    even after a SIGKILL. When the calling process is already connected
    (``ray.is_initialized()``), that connection is used and left open. Environment variables
    reach workers only through ``runtime_env``: ``NAS_*`` variables (e.g. ``NAS_PLUGINS``) are
    forwarded.
Resources (:mod:`evaluators.ray_resources`)
    Each trial requests ``gpus_per_trial`` (fractions pack trials on a GPU; default 1 when the
    cluster has GPUs, else 0) and ``cpus_per_trial`` (default 1). :meth:`capacity` is how
    many trials the cluster's nodes hold at once (the default ``--max-concurrent``). GPUs the
    cluster does not have are refused at start (ConfigError, exit 2): Ray would wait forever.
    GPU trial tasks keep Ray's default ``max_calls=1`` (a fresh worker process per trial), so
    a worker never inherits another trial's CUDA context or GPU assignment; the dataset is then
    loaded once per trial, which is small next to a trial's training. CPU workers are reused
    and load the dataset once per process.
Failures
    System failures (a worker process or node dies) are retried by Ray (``max_retries``,
    default 3); application errors (NaN loss, CUDA OOM, timeout, build errors) are failed
    results from :func:`~evaluators.candidate.evaluate_candidate` and never retried
    (``retry_exceptions=False``). A task that still fails becomes a ``failed`` result. A
    machine fault in a worker (:class:`~nas.errors.MachineFault`: its checkpoint or weights
    write hit a full disk or an I/O error) is neither: :meth:`RayEvaluator.results` raises it
    in the driver (after returning the other trials that finished with it), which stops the
    search with that trial still pending.
Checkpoints
    Per-epoch trial checkpoints go to the run's trial folder (:func:`nas.layout.trial_root`):
    ``<storage>/<run name>/checkpoints`` with ``storage`` (``--storage``, on storage every node
    sees), else ``<run dir>/checkpoints``; so a trial
    retried after a node failure, or re-submitted by a resumed driver with the same id,
    continues from its last epoch (``Result.worker["resumed_from_epoch"]``). Without shared
    storage a retry on another node starts from epoch 0 (a warning says so at start).
Weights
    With a run directory and ``keep_weights`` not 0, the worker writes an ok trial's trained
    weights (atomically) to ``weights/<trial id>.pt`` of the same trial folder
    (:func:`~nas.layout.trial_weights_path`, absolute), exactly as the local evaluator does;
    the driver prunes them to the top ``keep_weights`` and ``nas export`` reads them there
    (:func:`~nas.layout.find_trial_weights`). Without ``--storage`` on a multi-node cluster the
    run directory itself must be on storage every node sees.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from evaluators.base import Evaluator
from evaluators.proxies import check_proxies
from evaluators.ray_resources import RayOptions, ResourcePlan, plan_resources
from evaluators.ray_worker import probe_data, run_trial
from nas.errors import ConfigError, MachineFault, NasError, as_machine_fault, is_machine_fault
from nas.layout import CHECKPOINTS, trial_root, trial_weights_path
from nas.types import Proposal, Result

#: seconds allowed for the start-up data check on a worker
PROBE_TIMEOUT = 300.0
#: seconds for the TCP reachability check of a cluster address
CONNECT_TIMEOUT = 5.0
#: environment variables never forwarded to workers (driver-only test hooks)
DRIVER_ONLY_ENV = frozenset({"NAS_CRASH_AFTER"})


def import_ray() -> Any:
    """``import ray``, or a ConfigError saying how to install it (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray evaluator needs Ray: pip install 'nas[ray]' (or 'ray[tune]')") from None
    return ray


def worker_env() -> dict[str, str]:
    """``NAS_*`` variables of this process, for the tasks' ``runtime_env``."""
    return {k: v for k, v in os.environ.items() if k.startswith("NAS_") and k not in DRIVER_ONLY_ENV}


def task_options(**options: Any) -> dict[str, Any]:
    """``ray.remote`` options plus the ``runtime_env`` that forwards :func:`worker_env` (when any)."""
    env = worker_env()
    if env:
        options["runtime_env"] = {"env_vars": env}
    return options


def _reachable(address: str) -> str:
    """Resolve ``address`` as Ray would and check its GCS port answers; returns host:port."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # private API moved: let ray.init report problems itself
        return address
    try:
        resolved = canonicalize_bootstrap_address(address)
    except ConnectionError as e:  # "auto" and no cluster started on this machine
        raise ConfigError(f"--address {address}: no running Ray cluster found ({str(e).splitlines()[0]}); "
                          "start one with `ray start --head`, or omit --address for a private instance") from None
    except ValueError as e:
        raise ConfigError(f"--address {address}: {e}") from None
    if resolved is None:
        return address
    host, _, port = resolved.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except (OSError, ValueError) as e:
        raise ConfigError(f"--address {address}: cannot reach a Ray cluster at {resolved} ({e})") from None
    return resolved


class RayEvaluator(Evaluator):
    """Trials as Ray tasks on a (private or existing) Ray cluster.

    ``evaluate`` (``module:function``; default: the proposal's trial runner from
    :data:`nas.registry.TRIALS`, e.g. :func:`~evaluators.candidate.evaluate_candidate` for
    ``train``) and ``evaluate_kwargs`` replace the unit of work; the benchmark uses
    :func:`evaluators.ray_worker.sleep_candidate` to time the task path alone.
    """

    name = "ray"

    def __init__(self, space: Any, config: Any, *, run_dir: str | Path | None = None,
                 evaluate: str | None = None, evaluate_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(space, config, run_dir=run_dir)
        check_proxies(getattr(config, "proxies", None) or [])  # bad names: exit 2 before any write
        self.options = RayOptions.from_mapping(getattr(config, "evaluator_options", None))
        self.evaluate = evaluate  # None: the proposal's trial runner (nas.registry.TRIALS)
        self.evaluate_kwargs = dict(evaluate_kwargs or {})
        if self.evaluate is not None and ":" not in self.evaluate:
            raise ConfigError(f"evaluator 'ray': evaluate must be 'module:function', got {self.evaluate!r}")
        self.plan: ResourcePlan | None = None
        self.address: str | None = None
        self._owns_ray = False
        self._reaper: Any = None  # the watchdog of a private instance (evaluators.ray_reaper)
        self._remote: Any = None
        self._refs: dict[Any, str] = {}  # ObjectRef -> proposal id
        self._config_dict: dict[str, Any] | None = None
        self._checked = False
        self._fault: MachineFault | None = None  # a worker's, raised by the next results()

    # -- paths and settings ------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path | None:
        """Absolute (workers have another cwd) per-epoch checkpoint folder, or None without a run."""
        if self.run_dir is None:
            return None
        return trial_root(self.run_dir.resolve(), self.options.storage) / CHECKPOINTS

    def weights_path(self, trial_id: str) -> Path | None:
        """Absolute path for the trained weights of ``trial_id``, or None (no run, or ``keep_weights`` 0)."""
        if self.run_dir is None or self.config.keep_weights == 0:
            return None
        return trial_weights_path(self.run_dir.resolve(), trial_id, self.options.storage)

    def _device(self) -> str:
        return "cuda" if self.plan is not None and self.plan.gpus_per_trial > 0 else "cpu"

    def _payload_config(self) -> dict[str, Any]:
        if self._config_dict is None:
            d = self.config.to_dict()
            if d.get("data_dir"):  # relative to the driver's cwd, not the workers'
                d["data_dir"] = str(Path(d["data_dir"]).expanduser().resolve())
            d["evaluator_options"] = {}  # the workers need none of them
            self._config_dict = d
        return self._config_dict

    # -- connection -----------------------------------------------------------------------------
    def connect(self) -> ResourcePlan:
        """Join or start Ray, read the cluster's resources and plan the trials (idempotent)."""
        if self.plan is not None:
            return self.plan
        ray = import_ray()

        if ray.is_initialized():
            self.address = "(existing connection)"
        else:
            address = self.options.address or os.environ.get("RAY_ADDRESS") or "local"
            if address == "local":
                ray.init(address="local", num_cpus=self.options.num_cpus, include_dashboard=False,
                         logging_level=logging.WARNING, log_to_driver=True)
                self._reaper = _start_reaper(ray)
            else:
                resolved = _reachable(address)
                try:
                    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise ConfigError(f"--address {address}: cannot connect to the Ray cluster at {resolved}: "
                                      f"{str(e).splitlines()[0]}") from None
            self.address = address
            self._owns_ray = True
        nodes = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]
        self.plan = plan_resources(nodes, self.options.gpus_per_trial, self.options.cpus_per_trial,
                                   str(getattr(self.config, "device", "auto") or "auto"))
        if self.plan.nodes > 1 and self.options.storage is None and self.run_dir is not None:
            sys.stderr.write(
                f"nas: warning: the Ray cluster has {self.plan.nodes} nodes and no --storage was given: trial "
                f"checkpoints go to {self.checkpoint_dir} on each node's own disk, so a trial retried on "
                "another node restarts from epoch 0\n")
        options = task_options(num_cpus=self.plan.cpus_per_trial, num_gpus=self.plan.gpus_per_trial,
                               max_retries=self.options.max_retries, retry_exceptions=False)
        # num_gpus > 0 in ray.remote(...) makes Ray default to max_calls=1 (see the module docstring)
        self._remote = ray.remote(**options)(run_trial)
        return self.plan

    def check(self) -> dict[str, Any]:
        """Connect, plan resources, and load the dataset on one worker (DataError if missing there)."""
        plan = self.connect()
        if not self._checked:
            import ray

            options = task_options(num_cpus=min(plan.cpus_per_trial, 1.0), num_gpus=0, max_retries=1)
            ref = ray.remote(**options)(probe_data).remote(self._payload_config())
            try:
                ray.get(ref, timeout=PROBE_TIMEOUT)
            except ray.exceptions.GetTimeoutError:
                ray.cancel(ref, force=True)
                raise ConfigError(f"the Ray cluster ran no task within {PROBE_TIMEOUT:g}s "
                                  f"({plan.describe()}); is it busy with other jobs?") from None
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, NasError):
                    raise cause from None
                raise ConfigError(f"dataset {self.config.dataset!r} failed to load on a Ray worker: "
                                  f"{_first_line(cause or e)}") from None
            self._checked = True
        return {"address": self.address, "plan": plan.describe()}

    # -- Evaluator contract -------------------------------------------------------------------------
    def capacity(self) -> int:
        return self.connect().capacity

    def submit(self, proposal: Proposal) -> None:
        self.connect()
        ckpt, weights = self.checkpoint_dir, self.weights_path(proposal.id)
        payload = {
            "proposal": {**proposal.to_dict(), "info": {}},  # budget and lineage travel (promotions)
            "config": self._payload_config(),
            "device": self._device(),
            "checkpoint_dir": None if ckpt is None else str(ckpt),
            "weights_path": None if weights is None else str(weights),
            "threads": self.options.threads,
            "evaluate": self.evaluate,
            "evaluate_kwargs": self.evaluate_kwargs,
        }
        self._refs[self._remote.remote(payload)] = proposal.id

    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        """Finished trials; waits up to ``timeout`` seconds for the first one.

        A worker's :class:`~nas.errors.MachineFault` is raised here; trials that finished
        together with it are returned first and the fault is raised by the next call.
        """
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        if not self._refs:
            return []
        import ray

        refs = list(self._refs)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            pid = self._refs.pop(ref)
            try:
                out.append((pid, self._collect(ref)))
            except MachineFault as e:
                self._fault = self._fault or e
        if self._fault is not None and not out:
            fault, self._fault = self._fault, None
            raise fault
        return out

    def _collect(self, ref: Any) -> Result:
        import ray

        try:
            return Result.from_dict(ray.get(ref))
        except ray.exceptions.RayTaskError as e:  # an exception escaped the trial: the candidate fails
            cause = getattr(e, "cause", None) or e
            if is_machine_fault(cause):  # ... unless the machine did: not a result, the trial stays pending
                raise as_machine_fault(cause) from None
            return Result("failed", error=f"worker error: {type(cause).__name__}: {_first_line(cause)}")
        except ray.exceptions.TaskCancelledError:
            return Result("failed", error="trial cancelled")
        except ray.exceptions.RayError as e:  # system failure after max_retries retries
            return Result("failed", error=f"Ray task lost after {self.options.max_retries} retries: "
                                          f"{type(e).__name__}: {_first_line(e)}")

    def shutdown(self) -> None:
        """Cancel unfinished trials (their checkpoints stay for a resume); disconnect if we connected."""
        try:
            import ray
        except ImportError:  # pragma: no cover
            return
        if ray.is_initialized():
            for ref in list(self._refs):
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or its node is gone
                    pass
            if self._owns_ray:
                ray.shutdown()
        if self._reaper is not None:  # the instance is down: the watchdog kills any leftover and exits
            from evaluators.ray_reaper import stop_reaper

            stop_reaper(self._reaper)
            self._reaper = None
        self._refs.clear()
        self._owns_ray = False
        self.plan, self._remote = None, None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "address": self.address or self.options.address}
        if self.plan is not None:
            d["plan"] = self.plan.describe()
        return d


def _start_reaper(ray: Any) -> Any:
    """The watchdog of the private instance this process just started (None where /proc is missing)."""
    from evaluators.ray_reaper import start_reaper

    if not os.path.isdir("/proc"):
        return None
    try:  # Ray's private API: the node this process started and its processes
        node = ray._private.worker._global_node
        roots = [p.process.pid for procs in node.all_processes.values() for p in procs]
        session = node.get_session_dir_path()
    except AttributeError:  # moved in another Ray version: nothing to watch
        return None
    return start_reaper(session, roots)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if "Traceback" in text else (text.splitlines() or [""])[0]
