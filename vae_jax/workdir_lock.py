"""One run per workdir at a time: an exclusive `flock` on `<workdir>/.lock`.

Two runs writing the same checkpoints and metrics.jsonl would corrupt both, so the second
one refuses with a CheckpointError naming the holder. The kernel releases a `flock` when its
process ends, however it ends (SIGKILL, out of memory), so a crashed run never leaves the
workdir stuck: its lock file, still naming it, is taken over with a warning. The file is
kept (emptied) after a clean exit: deleting a lock file races with a run that just opened it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket

import jax
from absl import logging

from vae_jax.errors import CheckpointError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def hold(workdir: str):
    """Holds `workdir`'s lock for the duration (process 0 alone, for a multi-process run)."""
    if jax.process_index() != 0:
        yield
        return
    path = os.path.join(workdir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"workdir {workdir} is in use by another run ({_owner(fd) or 'unknown owner'}"
                f"); two runs would overwrite each other's checkpoints and logs. Wait for it "
                "to finish, stop it, or use another --workdir."
            ) from None
        stale = _owner(fd)
        if stale:
            logging.warning("workdir %s: taking over the lock of a run that ended without "
                            "releasing it (%s)", workdir, stale)
        _write(fd, f"pid {os.getpid()} on {socket.gethostname()}")
        try:
            yield
        finally:
            _write(fd, "")  # released cleanly: the next run has nothing to warn about
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _owner(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode(errors="replace").strip()


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    os.fsync(fd)
