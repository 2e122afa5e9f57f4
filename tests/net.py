"""Loopback helpers shared by the tests and the benchmarks that start real servers."""
import random
import socket
import time
from pathlib import Path


def _ephemeral_range():
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_handed_out = set()  # ports given to a caller that may not have bound them yet


def free_port(count=1):
    """The first of ``count`` consecutive TCP ports on 127.0.0.1 that nothing holds right now.

    The ports lie below the kernel's ephemeral range: a port the kernel hands out (bind to 0)
    can be taken again, between this call and the server's bind, by any outgoing connection
    (to PostgreSQL, Redis, a fake) that another process opens meanwhile. Raises RuntimeError
    when no such ports are found.
    """
    low = _ephemeral_range()[0]
    for _ in range(1000):
        port = random.randrange(10000, low - count)
        ports = range(port, port + count)
        if _handed_out.isdisjoint(ports) and all(_bindable(p) for p in ports):
            _handed_out.update(ports)
            return port
    raise RuntimeError(f"no {count} consecutive free ports below {low}")


def wait_port(port, timeout=20):
    """Wait until something accepts connections on 127.0.0.1:``port``; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")
