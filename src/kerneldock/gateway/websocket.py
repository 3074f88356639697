"""Kernel websocket connection with Nagle's algorithm switched off.

Kernel Gateway (through jupyter_server) never sets TCP_NODELAY on kernel websockets, so
each small request/reply pair can wait on a delayed ACK (tens of milliseconds per
``execute_request``). The gateway's ``KernelGatewayApp.kernel_websocket_connection_class``
trait points here; jupyter_server calls :meth:`connect` once per websocket, after the
handshake.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection


class NoDelayWebsocketConnection(ZMQChannelsWebsocketConnection):
    """A stock ZMQ-backed kernel websocket whose TCP socket has TCP_NODELAY set."""

    def connect(self):
        """Called by the websocket handler's ``open()``; sets TCP_NODELAY, then connects."""
        handler = self.websocket_handler
        if handler is not None and handler.ws_connection is not None:
            handler.set_nodelay(True)
        return super().connect()
