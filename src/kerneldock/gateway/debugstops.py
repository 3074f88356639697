"""Which kernels have a debugger stopped in them, read from their ``debug_event`` messages.

jupyter_server's culler judges a kernel idle by its execution state, which says nothing
about a thread held at a breakpoint outside a running cell (a worker thread, a callback).
The kernel manager asks :meth:`DebugStops.is_stopped` before culling.

One extra IOPub subscription per kernel; only each message's header is decoded unless it is
a ``debug_event``, whose signature is then checked as usual.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from jupyter_client.session import Session


class DebugStops:
    """Owned by the gateway's kernel manager, which calls :meth:`watch` when a kernel's
    activity watching starts and :meth:`unwatch` when it stops or the kernel goes away."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self._streams: dict[str, Any] = {}
        self._stopped: dict[str, set[Any]] = {}

    def watch(self, kernel_id: str, km: Any) -> None:
        self.unwatch(kernel_id)
        session = Session(config=km.session.config, key=km.session.key)
        stream = km.connect_iopub()
        stream.on_recv(partial(self._on_iopub, kernel_id, session))
        self._streams[kernel_id] = stream

    def unwatch(self, kernel_id: str) -> None:
        stream = self._streams.pop(kernel_id, None)
        if stream is not None and not stream.closed():
            stream.close()
        self._stopped.pop(kernel_id, None)

    def clear(self, kernel_id: str) -> None:
        """Called when the kernel restarts: whatever was stopped in it is gone."""
        self._stopped.pop(kernel_id, None)

    def is_stopped(self, kernel_id: str) -> bool:
        return bool(self._stopped.get(kernel_id))

    def _on_iopub(self, kernel_id: str, session: Session, msg_list: list) -> None:
        try:
            _idents, parts = session.feed_identities(msg_list)
            if session.unpack(parts[1]).get("msg_type") != "debug_event":
                return
            content = session.deserialize(parts)["content"]
        except Exception as error:  # not ours to judge; the websocket path reports bad messages
            self.log.debug("debug stops: unreadable message from %s: %s", kernel_id, error)
            return
        event, body = content.get("event"), content.get("body") or {}
        threads = self._stopped.setdefault(kernel_id, set())
        if event == "stopped":
            threads.add(body.get("threadId", "all"))
        elif event == "continued":
            if body.get("allThreadsContinued") or "threadId" not in body:
                threads.clear()
            else:
                threads.discard(body["threadId"])
                threads.discard("all")
        elif event in ("terminated", "exited"):
            threads.clear()
