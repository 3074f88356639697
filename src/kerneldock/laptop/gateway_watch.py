"""Noticing that the gateway restarted, for ``kerneldock connect``, without polling it.

A restarted gateway has lost every kernel it ran, and its users should be told so by name
rather than meet a bare "no kernel" later. Polling the gateway would write an access-log
line every few seconds, so the watch keeps one idle HTTP/1.1 keep-alive connection to the
gateway through the tunnel instead. When the gateway process exits, that connection is
closed at once (the bastion's TCP connection to it ends, then the SSH channel). The watch
then asks again: if the gateway does not answer through a tunnel that is up, it is down;
when it answers again with another start time (the ``X-Kerneldock-Gateway-Started``
header of its answers), it restarted. A gateway without that header is judged by its
kernels: gone when they are. The kernels it knew are refreshed on the same connection
every ``refresh`` seconds, so the list of lost kernels is at most that old.

The supervisor (:func:`kerneldock.laptop.connect.connect`) runs :meth:`GatewayWatch.run`
as a task and publishes :meth:`GatewayWatch.facts` in ``status.json``, where ``kerneldock
status``, ``doctor`` and the kernel commands read them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

REFRESH = 30.0
ANSWER_TIMEOUT = 10.0


class NoAnswer(Exception):
    """The forward accepted the connection but the gateway did not answer through it."""


class GatewayWatch:
    def __init__(self, port: int, token: str, *, tunnel_up: Callable[[], bool],
                 on_change: Callable[[], None], note: Callable[[str], None], refresh: float = REFRESH):
        self.port = port
        self.token = token
        self.tunnel_up = tunnel_up          # True while the ssh master of the tunnel runs
        self.on_change = on_change          # called after every change of facts()
        self.note = note                    # one progress line for the user
        self.refresh = refresh
        self.state = "up"                   # "up" | "down" (not answering through a live tunnel)
        self.down_since: float | None = None
        self.restarts = 0
        self.restarted_at: float | None = None
        self.lost_kernels: list[str] = []
        self.known: set[str] | None = None  # kernel ids at the last answer (None: never asked)
        self.started: str | None = None     # the gateway's start time, as it says it
        self._wake = asyncio.Event()
        self._after_end = False  # the kept connection just ended, the tunnel stayed up

    def facts(self) -> dict[str, Any]:
        return {"state": self.state, "down_since": self.down_since, "restarts": self.restarts,
                "restarted_at": self.restarted_at, "lost_kernels": self.lost_kernels}

    def tunnel_changed(self) -> None:
        """Called by the supervisor when the tunnel is back: look again at once."""
        self._wake.set()

    async def run(self) -> None:
        delay = 0.0
        while True:
            if delay:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
            if not self.tunnel_up():
                delay = 0.25  # the supervisor is reconnecting; the gateway is not to blame
                continue
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), ANSWER_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                delay = 0.25  # the forward is not listening: the tunnel is (re)starting
                continue
            try:
                try:
                    kernels = await self._ask(reader, writer)
                except asyncio.TimeoutError:
                    delay = 1.0  # busy, not gone: ask again later, nothing to report
                    continue
                except (NoAnswer, OSError, EOFError, ValueError, KeyError, TypeError,
                        asyncio.LimitOverrunError):
                    # The forward took the connection (ssh runs) and closed it unanswered:
                    # ssh could not reach the gateway.
                    if self.tunnel_up():
                        self._not_answering()
                    delay = 0.5
                    continue
                self._answered(*kernels)
                self._after_end = False
                # Idle until the gateway closes the connection, asking now and then. An end
                # here is only a reason to look again; a fresh connection tells what it was.
                try:
                    while not await self._idle(reader):
                        self.known = set((await self._ask(reader, writer))[0])
                except (NoAnswer, OSError, EOFError, ValueError, KeyError, TypeError,
                        asyncio.LimitOverrunError, asyncio.TimeoutError):
                    pass
                self._after_end = self.tunnel_up()
                delay = 0.1
            finally:
                writer.close()

    async def _idle(self, reader: asyncio.StreamReader) -> bool:
        """True when the connection ended (or the gateway sent something unasked), False
        after ``refresh`` quiet seconds."""
        try:
            await asyncio.wait_for(reader.read(1), self.refresh)
        except asyncio.TimeoutError:
            return False
        return True

    async def _ask(self, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> tuple[list[str], str | None]:
        """``GET /api/kernels`` on the kept connection: the ids of the kernels it lists and
        the gateway's start time, when it says it."""
        writer.write(("GET /api/kernels HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Authorization: token %s\r\nUser-Agent: kerneldock-connect\r\n\r\n"
                      % (self.port, self.token)).encode())
        await writer.drain()
        status, headers, body = await asyncio.wait_for(read_response(reader), ANSWER_TIMEOUT)
        started = headers.get("x-kerneldock-gateway-started")
        if status != 200:
            # 401 and the like: the gateway answers, which is all the watch needs to know.
            return sorted(self.known or ()), started
        return [kernel["id"] for kernel in json.loads(body)], started

    def _not_answering(self) -> None:
        if self.state == "down":
            return
        self.state, self.down_since = "down", time.time()
        self.note(f"gateway: not answering through the tunnel since {clock(self.down_since)} "
                  "(restarting or stopped?)")
        self.on_change()

    def _answered(self, kernels: list[str], started: str | None) -> None:
        before, now = self.known, set(kernels)
        gone = sorted(before - now) if before else []
        if started is not None and self.started is not None:
            restarted = started != self.started
        else:  # a gateway that does not say when it started: judged by its kernels
            restarted = ((self.state == "down" and bool(gone))
                         or (self._after_end and bool(before) and not (before & now)))
        if restarted:
            self._restarted(gone)
        elif self.state == "down":
            self.note(f"gateway: answering again after {time.time() - self.down_since:.1f} s, "
                      "its kernels are still there")
        changed = self.state == "down"
        self.state, self.down_since, self.known = "up", None, now
        self.started = started or self.started
        if changed:
            self.on_change()

    def _restarted(self, gone: list[str]) -> None:
        self.restarts += 1
        self.restarted_at = time.time()
        self.lost_kernels = gone
        self.note(f"gateway: answering again; it restarted at {clock(self.restarted_at)}, "
                  f"{lost_kernels_text(gone)}")
        self.on_change()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: status code, headers (lower-case names) and body
    (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise NoAnswer(lines[0])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
    else:
        body = b""
    return int(parts[1]), headers, body


def lost_kernels_text(lost: list[str]) -> str:
    """The kernels a gateway restart took, as every command names them."""
    return (f"its kernels {', '.join(k[:8] for k in lost)} are gone" if lost
            else "kernels started before then are gone")


def clock(when: float) -> str:
    """Local wall-clock time of an epoch second, as people read it in a terminal."""
    return time.strftime("%H:%M:%S", time.localtime(when))
