"""kerneldock's Kernel Gateway personality (``KG_API=kerneldock.gateway.personality``).

Kernel Gateway imports this module and calls :func:`create_personality` once at start-up,
from ``KernelGatewayApp.init_configurables``; it then calls ``create_request_handlers``
from ``init_webapp`` and ``init_configurables``/``shutdown`` (both ``async`` in 3.0.1) on
its event loop.
"""

from __future__ import annotations

import asyncio
import os

from jupyter_server.utils import url_path_join
from kernel_gateway.jupyter_websocket import JupyterWebsocketPersonality

from . import hardening, handlers, logscrub

POOL_FILL_DELAY = 2.0  # seconds after start-up


class KerneldockPersonality(JupyterWebsocketPersonality):
    """The stock websocket personality with kerneldock's handlers and log scrubbing."""

    def create_request_handlers(self):
        """Called by ``KernelGatewayApp.init_webapp`` after logging is set up."""
        logscrub.install((os.environ.get("KG_AUTH_TOKEN", ""),))
        base = url_path_join("/", self.parent.base_url, "api/kerneldock/kernels")
        result = [(base, handlers.wrap_handler(handlers.KernelModesHandler)),
                  (url_path_join("/", self.parent.base_url, "api/kerneldock/pool"),
                   handlers.wrap_handler(handlers.KernelPoolHandler)),
                  (base + r"/(?P<kernel_id>[\w-]+)/log", handlers.wrap_handler(handlers.KernelLogHandler))]
        for pattern, cls, *rest in super().create_request_handlers():
            if cls.__name__ == "MainKernelHandler":
                cls = handlers.MainKernelHandler
            result.append((pattern, handlers.wrap_handler(hardening.harden(cls)), *rest))
        return result

    async def init_configurables(self):
        """Called once on the gateway's event loop shortly after start-up: fills the pool
        a little later, so that starting its kernels does not slow the gateway's first
        answers (its readiness after a start or restart)."""
        await super().init_configurables()
        pool = getattr(self.parent.kernel_manager, "pool", None)
        if pool is not None:
            asyncio.get_running_loop().call_later(POOL_FILL_DELAY, pool.fill)

    async def shutdown(self):
        """Called when the gateway stops: the pool's kernels, then every other kernel."""
        pool = getattr(self.parent.kernel_manager, "pool", None)
        if pool is not None:
            await pool.close()
        await super().shutdown()


def create_personality(*args, **kwargs):
    """Entry point Kernel Gateway looks up on the ``KG_API`` module."""
    return KerneldockPersonality(*args, **kwargs)
