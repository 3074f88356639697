"""debugpy's adapter process with Nagle's algorithm off on its sockets.

debugpy's sockets (adapter to front-end, adapter to the debugged process) leave
TCP_NODELAY off, so a request answered in two small writes waits for a delayed ACK: tens
of milliseconds per ``stackTrace`` or ``evaluate`` while stopped. ``debugger_warmup``
names this command (``kerneldock-debug-adapter``) as the Python that ``debugpy.listen``
starts its adapter with; it is called as ``kerneldock-debug-adapter ADAPTER_DIR ARGS...``.
"""

from __future__ import annotations

import runpy
import socket
import sys


def main() -> None:
    from debugpy.common import sockets

    new_sock = sockets._new_sock

    def new_sock_without_delay(*args, **kwargs):
        sock = new_sock(*args, **kwargs)
        # Sockets accepted from a listening socket inherit the option on Linux.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    sockets._new_sock = new_sock_without_delay
    sys.argv = sys.argv[1:]  # the adapter's own path, then its arguments
    runpy.run_module("debugpy.adapter", run_name="__main__", alter_sys=True)
