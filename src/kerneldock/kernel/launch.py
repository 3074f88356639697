"""Starts a kernel process; called by ``python -m kerneldock.kernel`` (the kernelspec argv)."""

from __future__ import annotations

import os
import sys

# Where a stack's own kernels live (compose mounts KERNELDOCK_KERNELS here): their source
# under src/ is importable by kernels, their kernelspecs under share/jupyter/kernels.
USER_KERNELS = "/opt/kerneldock/user"


def configure_debugpy_on_first_start() -> None:
    """Make ipykernel's debugger call ``debugpy.configure(subProcess=False)`` before it
    starts debugpy for the first time.

    A subprocess of a debugged cell would otherwise get debugpy injected and ask the
    front-end to attach to it (a reverse request ipykernel cannot relay), and hang. It is
    done at the first debug session rather than at kernel start because ``configure``
    reads every installed distribution's metadata, which would slow every kernel start.
    """
    try:
        from ipykernel.debugger import Debugger
    except ImportError:  # no debugpy: ipykernel reports its debugger as unavailable
        return
    original_start = Debugger.start

    def start(self):
        if not getattr(Debugger, "_kerneldock_configured", False):
            import debugpy

            debugpy.configure(subProcess=False)
            Debugger._kerneldock_configured = True
        return original_start(self)

    Debugger.start = start


def main(argv: list[str] | None = None) -> int:
    """Start ipykernel's IPKernelApp with ``argv`` (default: the process's own arguments)."""
    from . import devmode

    argv = sys.argv[1:] if argv is None else argv
    user_src = os.path.join(os.environ.get("KERNELDOCK_USER_KERNELS", USER_KERNELS), "src")
    if os.path.isdir(user_src):
        sys.path.insert(0, user_src)
    mode = devmode.requested_mode()
    if mode is not None:
        devmode.start(mode, argv)  # before ipykernel and the kernel class are imported
    from ipykernel.kernelapp import IPKernelApp

    if mode is None:
        configure_debugpy_on_first_start()
    app = IPKernelApp.instance()
    app.initialize(argv)
    if app.connection_file:
        from . import logfile

        logfile.install(app.abs_connection_file)
    app.start()
    return 0
