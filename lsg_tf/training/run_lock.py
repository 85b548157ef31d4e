"""One training process per run folder: an ``flock`` on ``<run_dir>/.lock``.

The lock file holds the owner's pid, host and start time, for the message that refuses a
second process; the kernel releases the lock when its owner ends in any way, so a file left by
a killed run is taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time

from lsg_tf.run_io import LOCK_FILE, RunIOError


@contextlib.contextmanager
def run_lock(run_dir: str, log=None):
    """Holds the lock of ``run_dir`` while the block runs.

    A lock file whose owner ended without removing it (kill -9) is taken over with a message
    to ``log`` (default: stderr). On leaving, the file is removed, and so is ``run_dir`` if
    the lock created it and it is still empty. Multi-worker training locks each process's
    own folder (:func:`lsg_tf.training.distribute.worker_run_dir`).

    Raises:
        RunIOError: another process holds the lock (the message names the folder and its pid).
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    run_dir = os.path.abspath(run_dir)
    created = []
    folder = run_dir
    while not os.path.lexists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    try:
        fd = _take_lock(path, run_dir, log)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)  # before unlocking: the next process locks a new file
        os.close(fd)
        _remove_empty(created)


def _take_lock(path: str, run_dir: str, log) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
        except OSError:  # a file system without flock: trust the pid, on this host
            owner = _lock_owner(fd)
            held = owner.get("host") == socket.gethostname() and _runs(owner.get("pid"))
        if held:
            owner = _lock_owner(fd, wait=True)
            os.close(fd)
            raise RunIOError(f"{run_dir} is in use by another training run "
                             f"({_describe(owner)}): wait for it to end or train into another "
                             f"folder")
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the owner removed this file while we locked it: lock the new one
    previous = _lock_owner(fd)
    if previous:
        log(f"taking over the lock of {run_dir}: its owner ({_describe(previous)}) no "
            f"longer runs")
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    return fd


def _lock_owner(fd: int, wait: bool = False) -> dict:
    """The owner written in a lock file ({} if none); ``wait``: give a new owner 1 s to write."""
    for attempt in range(20 if wait else 1):
        if attempt:
            time.sleep(0.05)
        try:
            owner = json.loads(os.pread(fd, 4096, 0))
        except ValueError:
            continue
        if isinstance(owner, dict):
            return owner
    return {}


def _describe(owner: dict) -> str:
    if not owner.get("pid"):
        return "pid unknown"
    text = f"pid {owner['pid']} on {owner.get('host', '?')}"
    return text + (f", since {owner['since']}" if owner.get("since") else "")


def _runs(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _remove_empty(folders) -> None:
    """Removes the folders (deepest first) while they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return
