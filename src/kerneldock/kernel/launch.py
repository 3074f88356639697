"""Starts a kernel process; called by ``python -m kerneldock.kernel`` (the kernelspec argv)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Start ipykernel's IPKernelApp with ``argv`` (default: the process's own arguments)."""
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=sys.argv[1:] if argv is None else argv)
    return 0
