"""The environment a kernel starts with, computed once for fresh and pooled kernels alike.

Kernel Gateway's rule, kept as is: ``PATH``, the gateway's own variables named in
``env_process_whitelist``, and from the client's request the ``KERNEL_*`` variables plus
those named in ``env_whitelist``. Nothing else of the gateway's environment (its token, any
secret) reaches a kernel.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# Variables a kernel reads while it starts, so a pooled kernel (already started) cannot
# take them on afterwards: a request naming one always gets a fresh kernel.
READ_AT_START = ("KERNEL_KERNELDOCK_DEBUG",)


def kernel_env(requested: Mapping[str, str], process_whitelist: Iterable[str],
               client_whitelist: Iterable[str]) -> dict[str, str]:
    """Called by the start handler for each ``POST /api/kernels`` and by the pool (with an
    empty request) for the kernels it starts ahead of demand."""
    process_names = set(process_whitelist)
    client_names = set(client_whitelist)
    env = {"PATH": os.environ.get("PATH", "")}
    env.update({k: v for k, v in os.environ.items() if k in process_names})
    env.update({k: v for k, v in requested.items() if k.startswith("KERNEL_") or k in client_names})
    return env


def env_changes(have: Mapping[str, str], want: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What turns ``have`` into ``want``: variables to set, variables to remove."""
    to_set = {k: v for k, v in want.items() if have.get(k) != v}
    to_remove = sorted(k for k in have if k not in want)
    return to_set, to_remove
