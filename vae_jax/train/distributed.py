"""Several processes, one program (`jax.distributed`): set-up, who writes files, and stopping
cleanly when a process dies.

Every process runs the same `train_and_evaluate`; together their devices form one mesh
(train.mesh). Every process joins the orbax save and restore (a save by process 0 alone
hangs in orbax's collectives); `is_primary()` (process 0) alone writes config.json,
metrics.jsonl, TensorBoard events and figures.

A dead process must not leave the others hanging. jax's own reaction is either a Gloo error
in the next collective (naming an address, not a process) or, after the heartbeat timeout, a
C++ abort of the survivors. Here recoverability is switched on (the coordination service then
reports a lost process instead of aborting), a watchdog thread asks the service which processes
are alive, and either path prints one line naming the lost process and exits with code 3
(`os._exit`: jax's exit-time shutdown would wait for the dead peer).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import jax

from vae_jax.compat import jax as compat_jax
from vae_jax.errors import ConfigError

EXIT_PEER_LOST = 3
_POLL_SECONDS = 2.0
_PEER_ERRORS = ("Gloo", "Connection reset by peer", "Connection closed by peer",
                "coordination", "heartbeat", "UNAVAILABLE", "Socket closed")
_watchdog: _Watchdog | None = None
_shutdown_timeout = 30.0


def initialize(coordinator_address: str = "", num_processes: int = 0, process_id: int = -1,
               auto: bool = False, heartbeat_timeout: int = 30, shutdown_timeout: int = 30,
               initialization_timeout: int = 300) -> bool:
    """Joins this process to a multi-process job; False (and nothing done) when no flag asks.

    Must run before any jax computation. `auto` lets jax detect SLURM, Open MPI or a TPU
    slice; otherwise all three of address, process count and process id are needed.
    """
    explicit = bool(coordinator_address) or num_processes > 0 or process_id >= 0
    if not (explicit or auto):
        return False
    if explicit and not (coordinator_address and num_processes > 0 and process_id >= 0):
        raise ConfigError("a multi-process run needs --coordinator_address=HOST:PORT, "
                          "--num_processes and --process_id together (or --distributed alone "
                          "to detect SLURM / Open MPI / TPU)")
    if explicit and process_id >= num_processes:
        raise ConfigError(f"--process_id={process_id} must be below --num_processes="
                          f"{num_processes}")
    jax.config.update("jax_enable_recoverability", True)  # a lost peer is reported, see module
    kwargs = dict(coordinator_address=coordinator_address, num_processes=num_processes,
                  process_id=process_id) if explicit else {}
    try:
        jax.distributed.initialize(**kwargs, initialization_timeout=initialization_timeout,
                                   heartbeat_timeout_seconds=heartbeat_timeout,
                                   shutdown_timeout_seconds=shutdown_timeout)
    except ValueError as e:  # --distributed outside SLURM / Open MPI / a TPU slice
        raise ConfigError(f"--distributed found no cluster to join ({e}); give "
                          "--coordinator_address, --num_processes and --process_id") from e
    _client()  # a jax without the coordination client fails here, with a clear message
    global _watchdog, _shutdown_timeout
    _shutdown_timeout = shutdown_timeout
    _watchdog = _Watchdog()
    _watchdog.start()
    return True


def is_primary() -> bool:
    """True in the process that writes files (process 0; the only one without jax.distributed)."""
    return jax.process_index() == 0


def _client():
    return compat_jax.coordination_client()  # no public API polls liveness without a barrier


def lost_processes() -> list[int] | None:
    """Processes the coordination service no longer counts alive; None when the coordinator
    itself (process 0) cannot be reached."""
    everyone = list(range(jax.process_count()))
    client = _client()  # outside the try: a jax without it is not a lost coordinator
    try:
        live = client.get_live_nodes(everyone)
    except Exception:  # noqa: BLE001 - any RPC failure means the coordinator is gone
        return None
    return [i for i in everyone if i not in live]


def lost_peer_message(detail: str) -> str:
    """The one line a surviving process prints (asks the service who was lost)."""
    lost = lost_processes()
    who = ("process 0 (the coordinator)" if lost is None
           else " and ".join(f"process {i}" for i in lost) or "a peer process")
    return (f"error: {who} of {jax.process_count()} stopped ({detail}): stopping; relaunch all "
            "processes to resume from the last checkpoint")


def is_peer_failure(error: BaseException) -> bool:
    """Whether a jax error comes from a lost process (a failed collective or RPC)."""
    while error is not None:  # orbax and vae_jax wrap errors (CheckpointError from ...)
        if isinstance(error, jax.errors.JaxRuntimeError) and any(
                marker in str(error) for marker in _PEER_ERRORS):
            return True
        error = error.__cause__
    return False


def stop(message: str) -> None:
    """Prints `message` and ends this process at once (no exit-time distributed shutdown)."""
    print(message, file=sys.stderr, flush=True)
    os._exit(EXIT_PEER_LOST)


def short_reason(error: BaseException) -> str:
    """'connection reset by peer at [127.0.0.1]:PORT' out of a Gloo error, else its first line."""
    text = str(error)
    for marker in ("Connection reset by peer", "Connection closed by peer"):
        if marker in text:
            where = text.split("Read error")[-1].split(marker)[0].strip(" :") if (
                "Read error" in text) else ""
            return marker.lower() + (f" at {where}" if where else "")
    return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__


def finish() -> None:
    """A clean end: waits for every process (the primary may still write figures), stops the
    watchdog, then shuts jax.distributed down, process 0 (which hosts the coordination
    service) last: with recoverability on, jax's own shutdown does not wait for the others."""
    client = _client()
    client.wait_at_barrier("vae_jax_finished", 24 * 3600 * 1000)
    if _watchdog is not None:
        _watchdog.halt()
    if is_primary():
        deadline = time.monotonic() + _shutdown_timeout
        while len(client.get_live_nodes(list(range(jax.process_count())))) > 1 and (
                time.monotonic() < deadline):
            time.sleep(0.1)
    jax.distributed.shutdown()


class _Watchdog(threading.Thread):
    """Polls the coordination service; when a process is lost, stops this one with a message.

    Catches a death while this process computes without collectives (a population whose
    members sit one per device), writes files, or waits at the final barrier."""

    def __init__(self):
        super().__init__(name="vae_jax-peer-watchdog", daemon=True)
        self._halted = threading.Event()

    def halt(self) -> None:
        self._halted.set()

    def run(self) -> None:
        while not self._halted.wait(_POLL_SECONDS):
            lost = lost_processes()
            if self._halted.is_set():
                return
            if lost is None or lost:
                stop(lost_peer_message("no heartbeat" if lost else "coordinator unreachable"))
