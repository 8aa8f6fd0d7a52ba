"""What tests, scripts and benchmarks share: a real `serve` (`Server`), loopback ports
nothing listens on (`free_ports`), and a private OVN (`ovn_testbed`, imported on its own:
`from quantix_lb.testing import ovn_testbed`)."""

import socket

from quantix_lb.testing.server import QUANTIX_LB, Server

__all__ = ["QUANTIX_LB", "Server", "free_ports"]


def free_ports(n: int) -> list[int]:
    """Loopback ports nothing listens on right now (bound, then closed): a connect to one
    is refused, and a server may take it (racy only against other processes)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
