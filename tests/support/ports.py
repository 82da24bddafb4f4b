"""Free loopback ports for a stack started by a test or a benchmark."""

from __future__ import annotations

import socket

from cloud.settings import LOOPBACK


def free_ports(count: int) -> list[int]:
    """Ports free right now (held open together so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
