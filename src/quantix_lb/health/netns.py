"""Sockets opened inside another network namespace, from a process that stays in its own.

A socket belongs to the namespace it was created in, for its whole life. So the
worker's one event loop probes every tenant network: for each new socket the
calling thread enters the network's namespace (setns), creates the socket and
returns at once; nothing else runs on the thread in between. Python 3.11 has no
os.setns, hence libc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_lock = threading.Lock()
_fds: dict[str, int] = {}  # namespace path -> an open fd of it (kept: setns is then one syscall)
_home: int | None = None  # this process's own namespace


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _fd(path: str) -> int:
    fd = _fds.get(path)
    if fd is None:
        fd = _fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    return fd


def socket_in(path: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket in the network namespace at `path` ("" or None: this process's own)."""
    if not path:
        return socket.socket(family, kind, proto)
    global _home
    with _lock:
        if _home is None:
            _home = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        _setns(_fd(path))
        try:
            return socket.socket(family, kind, proto)
        finally:
            _setns(_home)


def forget(path: str) -> None:
    """Close the kept fd of a namespace that is going away."""
    with _lock:
        fd = _fds.pop(path, None)
    if fd is not None:
        os.close(fd)
