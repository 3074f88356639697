"""Starts a kernel process; called by ``python -m kerneldock.kernel`` (the kernelspec argv)."""

from __future__ import annotations

import os
import sys

# Where a stack's own kernels live (compose mounts KERNELDOCK_KERNELS here): their source
# under src/ is importable by kernels, their kernelspecs under share/jupyter/kernels.
USER_KERNELS = "/opt/kerneldock/user"


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

    app = IPKernelApp.instance()
    app.initialize(argv)
    if mode is None:
        from . import debugger_warmup

        debugger_warmup.install(app.kernel)
    if app.connection_file:
        from . import logfile

        logfile.install(app.abs_connection_file)
    app.start()
    return 0
