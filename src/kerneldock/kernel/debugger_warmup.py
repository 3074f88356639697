"""ipykernel's debugger, ready before the first debug session.

Stock ipykernel starts debugpy when a front-end first sends ``initialize``: an
``execute_request`` on the shell channel runs ``debugpy.listen``, which imports pydevd and
spawns debugpy's adapter process (0.5-1 s on a 2-core host, and it waits behind a running
cell). In a kernel started with ``KERNELDOCK_DEBUGGER_WARM=1`` (the gateway's pooled
kernels, which have the time while they wait) a thread does that as soon as the kernel
starts, so a debug session begins by connecting to an adapter that already listens (on
127.0.0.1, like ipykernel's own). On Python 3.12+ pydevd uses ``sys.monitoring`` and costs
nothing measurable while no breakpoint is set; the adapter is a process of its own
(BENCHMARKS.md). Kernels started on demand stay as lazy as stock: a burst of starts does
not pay for debuggers nobody may use.

The adapter is started through ``kerneldock-debug-adapter`` and the kernel's socket to it
gets TCP_NODELAY: without it each request while stopped paid a delayed ACK.

Either way ``debugpy.configure(subProcess=False)`` comes first: a subprocess of a debugged
cell would otherwise get debugpy injected and ask the front-end to attach to it (a reverse
request ipykernel cannot relay), and hang.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import Any

from ..common.kerneldev import WARM_VARIABLE

_configured = False
_warmup: threading.Thread | None = None


ADAPTER = os.path.join(os.path.dirname(sys.executable), "kerneldock-debug-adapter")


def _configure() -> None:
    global _configured
    if not _configured:
        import debugpy

        settings = {"subProcess": False}
        if os.path.exists(ADAPTER):  # installed with kerneldock: TCP_NODELAY in the adapter
            settings["python"] = ADAPTER
        debugpy.configure(**settings)  # reads every distribution's metadata: slow
        _configured = True


def _no_delay_to_adapter() -> None:
    """TCP_NODELAY on the debugged process's own socket to the adapter (see debug_adapter)."""
    try:
        import pydevd

        sock = getattr(getattr(pydevd.get_global_debugger(), "writer", None), "sock", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (ImportError, OSError):
        pass


def _listen(debugger: Any) -> None:
    try:
        import debugpy

        _configure()
        host, port = debugpy.listen(("127.0.0.1", 0))
    except Exception as error:  # the first session then starts debugpy the stock way
        print(f"WARNING[kernel] kerneldock: could not start debugpy ahead of time: {error}",
              file=sys.stderr, flush=True)
        return
    _no_delay_to_adapter()
    # What ipykernel's own start would have recorded after its `debugpy.listen`.
    debugger.debugpy_client.debugpy_host = host
    debugger.debugpy_client.debugpy_port = str(port)
    debugger.debugpy_initialized = True


def install(kernel: Any) -> None:
    """Called by the launcher between ``IPKernelApp.initialize`` and ``start`` (notebook
    mode only; kernel-dev mode runs debugpy its own way)."""
    global _warmup
    try:
        from ipykernel.debugger import Debugger
    except ImportError:  # no debugpy: ipykernel reports its debugger as unavailable
        return
    original_start = Debugger.start

    def start(self):
        """ipykernel's ``Debugger.start``, run by its control thread on ``initialize``."""
        if _warmup is not None:
            _warmup.join(60)
        if self.debugpy_initialized:
            # ipykernel makes the cells' folder only on the start it skips now.
            from ipykernel.compiler import get_tmp_directory

            os.makedirs(get_tmp_directory(), mode=0o700, exist_ok=True)
        _configure()
        started = original_start(self)
        _no_delay_to_adapter()  # when ipykernel itself started debugpy just now
        return started

    Debugger.start = start
    debugger = getattr(kernel, "debugger", None)
    warm = os.environ.get(WARM_VARIABLE, "").strip() == "1"
    # Before 3.12 pydevd traces with settrace, per thread and with a cost: stay lazy there.
    if warm and debugger is not None and sys.version_info >= (3, 12):
        _warmup = threading.Thread(target=_listen, args=(debugger,), name="kerneldock-debugger-warmup",
                                   daemon=True)
        _warmup.start()
