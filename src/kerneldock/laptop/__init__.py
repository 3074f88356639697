"""The laptop side: the ``kerneldock`` command and what it drives.

Runs on the user's machine. Talks to the stack only through the system OpenSSH client and
the gateway's HTTP/websocket API; never imports ipykernel or debugpy.
"""
