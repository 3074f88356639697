"""Starts a kernel process; called by ``python -m kerneldock.kernel`` (the kernelspec argv)."""

from __future__ import annotations

import sys


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
    from ipykernel.kernelapp import IPKernelApp

    configure_debugpy_on_first_start()
    IPKernelApp.launch_instance(argv=sys.argv[1:] if argv is None else argv)
    return 0
