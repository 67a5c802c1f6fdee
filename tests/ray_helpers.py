"""A real multi-node Ray cluster on loopback for tests, stopped by pid on teardown.

``ray start`` rewrites 127.0.0.1 to the machine's external address, and so does
``ray.init(address="127.0.0.1:PORT")`` on Linux (``resolve_ip_for_localhost``). Tests
therefore start nodes with ``ray.cluster_utils.Cluster(initialize_head=True,
head_node_args={"node_ip_address": "127.0.0.1", ...})`` plus ``add_node(...)`` (real GCS and
raylets, all bound to 127.0.0.1), and :func:`force_loopback` makes Ray's address resolution
keep loopback in this process and in subprocess drivers (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
is Ray's own switch for "this machine only": ``get_node_ip_address()`` then returns
127.0.0.1). Nothing talks to a non-loopback address.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from evaluators.local_pool import process_alive

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
#: environment for Ray in tests and in subprocess drivers
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
OBJECT_STORE = 100 * 1024 * 1024
NODE_ARGS = {"node_ip_address": LOOPBACK, "num_cpus": 1, "num_gpus": 0, "object_store_memory": OBJECT_STORE}


def force_loopback() -> None:
    """Make Ray resolve this machine to 127.0.0.1 in this process (before or after ``import ray``)."""
    os.environ.update(RAY_ENV)
    if "ray" in sys.modules:
        import ray._private.ray_constants as rc

        rc.ENABLE_RAY_CLUSTER = False


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT), **extra}
    env.pop("RAY_ADDRESS", None)
    env.pop("NAS_CRASH_AFTER", None)
    return env


def _children(pids: set[int]) -> set[int]:
    """All descendants of ``pids`` (from /proc), so leftovers can be killed by pid."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = set(), set(pids)
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in out}
        out |= frontier
    return out


def kill_leftovers(pids: set[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL whichever of ``pids`` still run; returns those still alive after ``timeout``."""
    for pid in sorted(pids):
        if process_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process_alive(p) for p in pids):
        time.sleep(0.1)
    return sorted(p for p in pids if process_alive(p))


@contextmanager
def local_instance(num_cpus: int = 1) -> Iterator[None]:
    """A private single-node Ray instance on 127.0.0.1; stopped (then killed by pid) on exit."""
    force_loopback()
    import ray

    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE,
             logging_level="WARNING")
    node = ray._private.worker._global_node
    pids = {p.process.pid for procs in node.all_processes.values() for p in procs}
    try:
        yield
    finally:
        pids |= _children(pids)
        ray.shutdown()
        left = kill_leftovers(pids)
        assert not left, f"Ray processes left running: {left}"


class LoopbackCluster:
    """Head + worker nodes on 127.0.0.1 (1 CPU each); :meth:`shutdown` stops every process it started."""

    def __init__(self, workers: int = 1, *, head_cpus: int = 1, system_config: dict[str, Any] | None = None) -> None:
        force_loopback()
        from ray.cluster_utils import Cluster

        self._pids: set[int] = set()
        head = {**NODE_ARGS, "num_cpus": head_cpus, "include_dashboard": False}
        if system_config:
            head["_system_config"] = system_config
        self.cluster = Cluster(initialize_head=True, head_node_args=head)
        self._track(self.cluster.head_node)
        self.workers: list[Any] = []
        try:
            for _ in range(workers):
                self.add_worker()
            self.cluster.wait_for_nodes()
        except BaseException:
            self.shutdown()
            raise

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def head_node_id(self) -> str:
        return self.cluster.head_node.node_id

    def _track(self, node: Any) -> None:
        for procs in node.all_processes.values():
            self._pids.update(p.process.pid for p in procs)

    def add_worker(self) -> Any:
        node = self.cluster.add_node(**NODE_ARGS)
        self._track(node)
        self.workers.append(node)
        return node

    def raylet_pid(self, node: Any) -> int:
        return node.all_processes["raylet"][0].process.pid

    def busy_workers(self, node: Any, function: str = "run_trial") -> list[int]:
        """Pids of ``node``'s worker processes running a task of ``function`` (Ray's process title)."""
        out = []
        for pid in _children({self.raylet_pid(node)}):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if title == f"ray::{function}":
                out.append(pid)
        return out

    def kill_node(self, node: Any) -> None:
        """A lost machine: SIGKILL the node's raylet, then its worker processes.

        (Killing only the raylet does not lose the running task: measured with Ray 2.60, the
        orphaned worker process runs its task to the end, then idles with no raylet.)
        """
        workers = _children({self.raylet_pid(node)})
        self._pids |= workers
        os.kill(self.raylet_pid(node), signal.SIGKILL)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def alive_node_ids(self) -> set[str]:
        import ray

        return {n["NodeID"] for n in ray.nodes() if n["Alive"]}

    def connect(self) -> None:
        """Connect this (test) process as a driver."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, logging_level="WARNING")

    def shutdown(self) -> None:
        """Disconnect, remove every node, then SIGKILL by pid whatever we started that is still alive."""
        import ray

        try:
            if ray.is_initialized():
                ray.shutdown()
        finally:
            self._pids |= _children(self._pids)
            try:
                self.cluster.shutdown()
            except Exception:  # noqa: BLE001 - e.g. a node whose raylet we killed
                pass
            kill_leftovers(self._pids)

    def leftovers(self) -> list[int]:
        return sorted(p for p in self._pids if process_alive(p))


#: Ray health checks fast enough that a killed node is declared dead within about 2 s
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_timeout_ms": 500, "health_check_failure_threshold": 4}


class SearchThread:
    """``run_search(config)`` in a daemon thread, so a test can kill cluster nodes meanwhile."""

    def __init__(self, config: Any) -> None:
        import threading

        self.summary: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._drive, args=(config,), daemon=True)
        self._thread.start()

    def _drive(self, config: Any) -> None:
        from nas.app.launch import run_search

        try:
            self.summary = run_search(config, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def join(self, timeout: float) -> Any:
        """Wait for the search; its summary, or an AssertionError naming what went wrong."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the search did not finish within {timeout:g}s"
        assert self.error is None, self.error
        return self.summary
