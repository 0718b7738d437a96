from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers and services a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
