"""One process at a time per journal: an advisory lock held while a :class:`Journal` is open.

Two processes running the same journal (a resume started twice, a resume beside the run it
continues, ``overwrite=True`` over a run still going) would each pay for every missing step
and interleave their records. A :class:`~mipro_core.Journal` therefore holds an exclusive
``flock`` on its file while it is open; a second process is refused with a
:class:`~mipro_core.JournalError` at once. Opens within one process share the lock (the CLI
writes its metadata through a second :class:`Journal` while the run's own is open).

The lock is taken with ``flock`` on a descriptor of the journal file itself, independent of
SQLite's own ``fcntl`` locks on Linux; that descriptor is closed only once no :class:`Journal`
of the process has the file open (closing a descriptor drops the process's ``fcntl`` locks on
the file, SQLite's included). Where ``flock`` does not exist (Windows) or the file system
refuses it, no lock is taken.

A child made by ``fork`` (a multiprocessing pool of the user's, inside a run) inherits the
locked descriptor; ``O_CLOEXEC`` only covers ``exec``. The child closes its copies at once
(:func:`_forget_in_child`): an ``flock`` belongs to the open file description the two processes
share, so the parent keeps its lock, and once the parent closes the journal nothing keeps the
file locked. The child never unlocks (``LOCK_UN`` would release the parent's lock) and holds no
journal: it is another process, refused like any other.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from ._errors import JournalError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here
    fcntl = None  # type: ignore[assignment]

__all__ = ["LockKey", "acquire", "held", "release"]

LockKey = tuple[int, int]
"""A journal file's identity: ``(st_dev, st_ino)``."""

_lock = threading.Lock()
_held: dict[LockKey, list[int]] = {}
"""Per file held by this process: ``[descriptor, number of open journals]``."""


def acquire(path: Path) -> LockKey | None:
    """Lock the journal at ``path`` for this process (again, if it holds it already).

    Returns:
        The key to :func:`release`, or ``None`` when no lock could be taken (no ``flock``).

    Raises:
        JournalError: another process holds the journal open.
    """
    if fcntl is None:
        return None
    status = os.stat(path)
    key = (status.st_dev, status.st_ino)
    with _lock:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
            return key
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"journal {path} is in use by another process (the run, or a resume of it, is "
                "still going): wait for it to end or stop it; two processes on one journal "
                "would each pay for the missing steps"
            ) from None
        except OSError:  # a file system without flock: run unlocked, as before
            os.close(fd)
            return None
        _held[key] = [fd, 1]
        return key


def release(key: LockKey | None) -> None:
    """Undo one :func:`acquire`; the last one of the process unlocks the file."""
    if key is None:
        return
    with _lock:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            os.close(entry[0])  # closing the descriptor releases the flock


def _forget_in_child() -> None:
    """In a forked child: close the inherited lock descriptors, without unlocking them."""
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    for fd, _ in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


if fcntl is not None and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """The journal at ``path`` locked for the block (refused if another process has it)."""
    key = acquire(path)
    try:
        yield
    finally:
        release(key)
