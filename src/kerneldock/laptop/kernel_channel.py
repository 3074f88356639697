"""One websocket to one kernel through the gateway: send requests, await replies, watch iopub.

Used by the CLI (``kernels``/``exec``), by the DAP relay and by the tests. A background
reader task owns the socket; replies resolve the future of the request they answer, and
every message is also offered to the subscriber queues (:meth:`subscribe`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from ..common.errors import GatewayError, KernelError, KerneldockError, KernelLostError
from .gateway_api import GatewayAPI
from .messages import new_message, parent_id


@dataclass
class Execution:
    """What one ``execute_request`` produced."""

    reply: dict[str, Any]
    stdout: str = ""
    stderr: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    @property
    def text(self) -> str:
        """stdout plus the text/plain of every result, as a terminal would show it."""
        parts = [self.stdout] + [r.get("text/plain", "") + "\n" for r in self.results]
        return "".join(parts)


class KernelChannel:
    """The websocket of kernel ``kernel_id`` on the gateway behind ``api``."""

    def __init__(self, api: GatewayAPI, kernel_id: str, *, session: str | None = None):
        self.api = api
        self.kernel_id = kernel_id
        self.session = session or uuid.uuid4().hex
        self._ws: WebSocketClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}
        self._subscribers: list[asyncio.Queue] = []
        self.closed = asyncio.Event()
        self._closing = False
        self._dap_seq = 0

    async def open(self, timeout: float = 30.0) -> "KernelChannel":
        request = HTTPRequest(self.api.websocket_url(self.kernel_id, self.session),
                              headers=self.api.auth_headers, connect_timeout=timeout,
                              request_timeout=timeout)
        try:
            self._ws = await websocket_connect(request, max_message_size=256 * 1024 * 1024)
        except HTTPClientError as error:
            if error.code == 404:
                raise KernelError(f"no kernel {self.kernel_id!r} on the gateway",
                                  fix="list them with 'kerneldock kernels'") from None
            raise self.api.translate_error(error, "GET", f"/api/kernels/{self.kernel_id}/channels") from None
        except OSError as error:
            raise GatewayError(f"cannot open the kernel websocket ({error})",
                               fix="is the tunnel up? run 'kerneldock status'") from None
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aenter__(self) -> "KernelChannel":
        return await self.open()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._reader.cancel()

    async def _read(self) -> None:
        try:
            while True:
                raw = await self._ws.read_message()
                if raw is None:
                    break
                if isinstance(raw, bytes):
                    continue  # binary frames carry buffers; nothing here needs them
                message = json.loads(raw)
                if message.get("channel") in ("shell", "control", "stdin"):
                    future = self._pending.pop(parent_id(message) or "", None)
                    if future is not None and not future.done():
                        future.set_result(message)
                for queue in self._subscribers:
                    queue.put_nowait(message)
        finally:
            self.closed.set()
            for queue in self._subscribers:
                queue.put_nowait(None)
            if self._pending:
                # Requests still waiting get one line saying which hop went away.
                error = (KernelError("the kernel websocket was closed before the kernel answered")
                         if self._closing else await self.why_closed())
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(error)
                self._pending.clear()

    async def why_closed(self, timeout: float = 3.0) -> KernelError:
        """Called when the websocket closed under a waiting request: looks through the
        tunnel (within ``timeout`` seconds) at what is gone, the tunnel, the gateway or the
        kernel, and returns the error that says so: a :class:`KernelLostError` naming the hop
        that went away, a :class:`KernelError` that every waiting caller already handles."""
        kernel = self.kernel_id[:8]
        if not await asyncio.to_thread(_listening, self.api.base_url):
            return KernelLostError("ssh", f"the tunnel to the gateway closed while kernel {kernel} was in use; "
                                   "the kernel itself keeps running on the gateway",
                                   "'kerneldock connect' brings the tunnel back by itself ('kerneldock status'); "
                                   "then connect to the kernel again")
        try:
            probe = GatewayAPI(self.api.base_url, self.api.token, timeout=timeout)
            kernels = await asyncio.wait_for(probe.kernels(), timeout + 1)
        except (KerneldockError, asyncio.TimeoutError):
            return KernelLostError("gateway", f"the gateway stopped answering while kernel {kernel} was in use "
                                   "(restarting or stopped?); a restarted gateway has lost its kernels",
                                   "see 'kerneldock status'; once the gateway answers, start a new kernel")
        if any(k.get("id") == self.kernel_id for k in kernels):
            return KernelError(f"the websocket of kernel {kernel} closed before the kernel answered; the kernel "
                               "is still on the gateway", fix="try again; see 'kerneldock status'")
        return KernelLostError("gateway", f"kernel {kernel} is gone from the gateway (shut down, died, or the "
                               "gateway restarted) with its state", "see 'kerneldock status'; start a new kernel")

    def subscribe(self) -> asyncio.Queue:
        """A queue that gets every later message, then ``None`` when the socket closes."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def send(self, channel: str, msg_type: str, content: dict[str, Any],
             metadata: dict[str, Any] | None = None) -> tuple[str, asyncio.Future]:
        """Send a message; return its msg_id and the future of its reply."""
        if self._ws is None or self.closed.is_set():
            raise KernelError("the kernel websocket is closed")
        message = new_message(msg_type, content, session=self.session, channel=channel,
                              metadata=metadata)
        msg_id = message["header"]["msg_id"]
        future = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            self._ws.write_message(json.dumps(message))
        except WebSocketClosedError:
            self._pending.pop(msg_id, None)
            raise KernelError("the kernel websocket is closed") from None
        return msg_id, future

    async def request(self, channel: str, msg_type: str, content: dict[str, Any],
                      timeout: float = 30.0) -> dict[str, Any]:
        """Send a request and return its reply message."""
        msg_id, future = self.send(channel, msg_type, content)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._pending.pop(msg_id, None)
            raise KernelError(f"no {msg_type.replace('_request', '_reply')} within {timeout:g} s",
                              fix="the kernel may be busy or stopped at a breakpoint") from None

    async def kernel_info(self, timeout: float = 30.0) -> dict[str, Any]:
        return (await self.request("shell", "kernel_info_request", {}, timeout))["content"]

    async def execute(self, code: str, timeout: float = 60.0, *,
                      metadata: dict[str, Any] | None = None) -> Execution:
        """Run ``code``; return its reply and output once the kernel is idle again."""
        queue = self.subscribe()
        try:
            msg_id, future = self.send("shell", "execute_request", {
                "code": code, "silent": False, "store_history": True,
                "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
            }, metadata)
            return await asyncio.wait_for(self._collect(msg_id, future, queue), timeout)
        except asyncio.TimeoutError:
            raise KernelError(f"the cell did not finish within {timeout:g} s",
                              fix="interrupt it, or raise the timeout") from None
        finally:
            self.unsubscribe(queue)

    async def _collect(self, msg_id: str, future: asyncio.Future, queue: asyncio.Queue) -> Execution:
        stdout: list[str] = []
        stderr: list[str] = []
        results: list[dict[str, Any]] = []
        idle = False
        while not idle:
            message = await queue.get()
            if message is None:
                break
            if parent_id(message) != msg_id or message.get("channel") != "iopub":
                continue
            kind, content = message["header"]["msg_type"], message["content"]
            if kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif kind in ("execute_result", "display_data"):
                results.append(content["data"])
            elif kind == "error":
                stderr.append("\n".join(content.get("traceback", [])) or content.get("evalue", ""))
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        reply = await future
        return Execution(reply, "".join(stdout), "".join(stderr), results)

    async def debug(self, command: str, arguments: dict[str, Any] | None = None,
                    timeout: float = 30.0) -> dict[str, Any]:
        """Send one DAP request to the kernel's debugger; return the DAP response."""
        self._dap_seq += 1
        content = {"type": "request", "seq": self._dap_seq, "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        reply = await self.request("control", "debug_request", content, timeout)
        return reply["content"]


def _listening(base_url: str) -> bool:
    """Whether the tunnel's local forward at ``base_url`` takes connections."""
    host, _, port = base_url.split("://", 1)[-1].rstrip("/").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False
