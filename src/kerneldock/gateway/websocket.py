"""Kernel websocket connection: Nagle's algorithm off, debug events never rate-limited.

Kernel Gateway (through jupyter_server) never sets TCP_NODELAY on kernel websockets, so
each small request/reply pair can wait on a delayed ACK (tens of milliseconds per
``execute_request``). The gateway's ``KernelGatewayApp.kernel_websocket_connection_class``
trait points here; jupyter_server calls :meth:`connect` once per websocket, after the
handshake.

jupyter_server drops iopub messages above its rate limits; a burst of cell output just
before a breakpoint could then drop the ``stopped`` ``debug_event`` for good, leaving the
debugger front-end waiting forever. Debug events are few and small, so they always pass.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection


class NoDelayWebsocketConnection(ZMQChannelsWebsocketConnection):
    """A stock ZMQ-backed kernel websocket with TCP_NODELAY and unthrottled debug events."""

    def connect(self):
        """Called by the websocket handler's ``open()``; sets TCP_NODELAY, then connects."""
        handler = self.websocket_handler
        if handler is not None and handler.ws_connection is not None:
            handler.set_nodelay(True)
        return super().connect()

    def _limit_rate(self, channel, msg, msg_list):
        """Called by jupyter_server for each outgoing message; True drops it."""
        if channel == "iopub":
            msg["header"] = self.get_part("header", msg["header"], msg_list)
            if msg["header"].get("msg_type") == "debug_event":
                return False
        return super()._limit_rate(channel, msg, msg_list)
