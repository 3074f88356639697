"""Starts a kernel process; called by ``python -m kerneldock.kernel`` (the kernelspec argv)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Start ipykernel's IPKernelApp with ``argv`` (default: the process's own arguments)."""
    from ipykernel.kernelapp import IPKernelApp

    try:
        import debugpy
    except ImportError:  # the kernel still runs; its debugger says it is unavailable
        pass
    else:
        # Subprocesses of a debugged cell would otherwise have debugpy injected and ask the
        # front-end to attach to them (a reverse request ipykernel cannot relay): they hang.
        debugpy.configure(subProcess=False)

    IPKernelApp.launch_instance(argv=sys.argv[1:] if argv is None else argv)
    return 0
