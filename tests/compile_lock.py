"""One compilation of a numba kernel at a time across the pytest-xdist workers of a run.

The kernels carry ``cache=True``; a kernel that two workers first need at about the same time
was compiled by both (the cache holds nothing yet when the second one looks): in a cold run of
the suite on 2 workers, 41 CPU s of the 183 CPU s of compilations were such second copies,
33 s of them ConditionalGittins' kernels, which ``test_sim.py`` and ``test_engine.py`` (the two
files handed out first) reached 9 s apart. ``conftest.py`` installs this on each worker: a
kernel's compilation holds a lock file named after the kernel (and its source file, so other
checkouts do not wait on it), and numba's own look-up of the disk cache, done under that lock,
finds what the other worker has just compiled instead of compiling it again. The wait is
bounded (:data:`WAIT` s, then it compiles anyway), and a kernel whose compilation nests inside
its own in this process takes no second lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time

#: the longest wait for another worker's compilation of the same kernel, seconds
WAIT = 300.0

_held: set[str] = set()


def _path(dispatcher) -> str:
    py = dispatcher.py_func
    name = f"{py.__code__.co_filename}:{py.__module__}.{py.__qualname__}"
    digest = hashlib.sha1(name.encode()).hexdigest()[:20]
    directory = os.path.join(tempfile.gettempdir(), f"qtheory-numba-locks-{os.getuid()}")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, digest)


def install() -> None:
    """Wrap ``Dispatcher.compile`` of numba's CPU dispatcher (once per process)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    original = Dispatcher.compile
    if getattr(original, "_qtheory_locked", False):
        return

    def compile(self, sig):
        if isinstance(getattr(self, "_cache", None), NullCache):
            return original(self, sig)
        try:
            path = _path(self)
        except (AttributeError, OSError):
            return original(self, sig)
        if path in _held:
            return original(self, sig)
        with open(path, "a") as fh:
            deadline = time.monotonic() + WAIT
            locked = False
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            _held.add(path)
            try:
                return original(self, sig)
            finally:
                _held.discard(path)
                if locked:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    compile._qtheory_locked = True
    Dispatcher.compile = compile
