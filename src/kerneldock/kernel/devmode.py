"""Kernel-developer mode: debugpy listens before the kernel's own code is imported.

The seed guide's ``debugpy.listen(5678); debugpy.wait_for_client()``, done for the kernel
developer by the launcher: asked for per kernel with ``KERNELDOCK_DEBUG`` (set by the
``python3-kernel-dev`` kernelspec) or ``KERNEL_KERNELDOCK_DEBUG`` (sent by a client when it
starts the kernel; the gateway passes ``KERNEL_*`` variables through). ``listen`` starts
debugpy; ``wait`` also blocks start-up until a debugger attaches, so breakpoints in the
kernel class's ``__init__`` hit.

debugpy listens on the gateway container's own addresses, which only the stack's internal
network reaches (the bastion forwards to it on request; nothing publishes it). The port,
one of :data:`DEBUG_PORTS`, is written beside the kernel's connection file, where the
gateway reads it for ``GET /api/kerneldock/kernels``.

ipykernel's own debugger (JupyterLab's) is switched off in such a kernel: debugpy allows
one ``listen`` per process, so it could not start anyway. The kernel says so plainly: its
``kernel_info`` no longer offers the debugger feature.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from ..common.kerneldev import DEBUG_PORTS, MODES, SIDECAR_SUFFIX


def requested_mode() -> str | None:
    value = (os.environ.get("KERNEL_KERNELDOCK_DEBUG") or os.environ.get("KERNELDOCK_DEBUG") or "").strip()
    if not value:
        return None
    if value not in MODES:
        print(f"WARNING[kernel] kerneldock: KERNELDOCK_DEBUG={value!r} is not one of {', '.join(MODES)}; "
              "starting without kernel-dev mode", file=sys.stderr, flush=True)
        return None
    return value


def connection_file(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--f=") or arg.startswith("--IPKernelApp.connection_file="):
            return arg.split("=", 1)[1]
    return None


def free_debug_port() -> int:
    for port in DEBUG_PORTS:
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"ERROR[kernel] kerneldock: every kernel-dev port ({DEBUG_PORTS.start}-"
                     f"{DEBUG_PORTS.stop - 1}) is taken; stop a kernel-dev kernel first")


def start(mode: str, argv: list[str]) -> None:
    """Called by the launcher before ipykernel (and the kernel's own module) is imported."""
    import debugpy

    port = free_debug_port()
    debugpy.configure(subProcess=False)
    debugpy.listen(("0.0.0.0", port))
    path = connection_file(argv)
    if path:
        with open(path + SIDECAR_SUFFIX, "w") as f:
            json.dump({"mode": mode, "port": port, "pid": os.getpid()}, f)
    import ipykernel.debugger

    ipykernel.debugger._is_debugpy_available = False
    print(f"INFO[kernel] kerneldock: kernel-dev mode ({mode}): debugpy listens on port {port}",
          file=sys.stderr, flush=True)
    if mode == "wait":
        print("INFO[kernel] kerneldock: waiting for a debugger to attach "
              "(kerneldock attach --kernel-dev KERNEL)", file=sys.stderr, flush=True)
        debugpy.wait_for_client()
