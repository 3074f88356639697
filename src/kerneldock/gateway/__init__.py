"""The gateway side: runs inside the Kernel Gateway process of the gateway image.

Kernel Gateway 3.0.1 stays stock; kerneldock plugs in through its documented seams:

- ``personality``: the ``KG_API`` module (request handlers, error shape).
- ``websocket``: the ``kernel_websocket_connection_class`` (TCP_NODELAY).
- ``logscrub``: a logging filter that keeps tokens out of the logs.
- ``__main__``: the start command (refuses to run without a token, skips slow imports).
"""
