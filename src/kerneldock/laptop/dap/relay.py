"""One editor's DAP session, relayed to the kernel's debugger over the kernel websocket.

:class:`RelaySession` is created by the attach server for each editor connection and runs
until the editor goes away or the kernel does. What it takes care of (see the field notes
on ipykernel's debugger for the why of each):

- Sequence numbers: replies are matched by Jupyter ``msg_id``; the editor gets its own
  monotonic ``seq`` and correct ``request_seq``/``command``, also for ipykernel's two
  malformed replies (``modules``, ``richInspectVariables``).
- Joining: when another front-end (JupyterLab) already started the kernel's debugger,
  ``initialize``/``attach`` are answered here and ``initialized`` is emitted, instead of
  failing with "Session is already started"; stops already in progress are announced.
- Paths: done here, both ways (:mod:`.paths`), never by debugpy.
- Resume guard: ``continue``/``next``/``step*`` with no thread suspended get no reply from
  the kernel and block its control channel, so they are answered here.
- Reverse requests: ``runInTerminal``/``startDebugging`` capabilities are stripped, so
  debugpy never sends requests ipykernel would mis-queue as replies.
- Ending: ``terminate`` and ``terminateDebuggee`` would kill the kernel, so they are never
  forwarded. An owner's disconnect (or the editor vanishing) sends ``disconnect`` with
  ``terminateDebuggee: false``, which resumes a stopped cell and clears breakpoints; a
  joiner never ends the other front-end's session, it only removes its own breakpoints.
- Failures: a kernel that dies or restarts, or a websocket/tunnel that closes, gives the
  editor an ``output`` message and ``terminated``; a request the kernel does not answer
  in time gets an error response.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from ...common.errors import KernelError
from ..kernel_channel import KernelChannel
from ..messages import parent_id
from .cells import Cell
from .framing import FramingError, encode_message, read_message
from .paths import CellSource, Mapping, PathMapper, is_windows_path

log = logging.getLogger("kerneldock.attach")

RESUME_COMMANDS = {"continue", "next", "stepIn", "stepOut", "stepBack", "reverseContinue", "goto"}
REVERSE_REQUEST_CAPABILITIES = ("supportsRunInTerminalRequest", "supportsStartDebuggingRequest",
                                "supportsArgsCanBeInterpretedByShell")
# What the editor is told when it joins a session whose initialize it did not see: the
# subset of debugpy's capabilities that ipykernel's debugger passes through.
JOIN_CAPABILITIES = {
    "supportsConfigurationDoneRequest": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsEvaluateForHovers": True,
    "supportsSetVariable": True,
    "supportsExceptionInfoRequest": True,
    "supportsLogPoints": True,
    "supportsValueFormattingOptions": True,
    "supportsModulesRequest": True,
    "supportsTerminateRequest": False,
    "exceptionBreakpointFilters": [
        {"filter": "raised", "label": "Raised Exceptions", "default": False},
        {"filter": "uncaught", "label": "Uncaught Exceptions", "default": True},
    ],
}
REQUEST_TIMEOUT = 60.0


def path_key(path: str) -> str:
    return path.replace("\\", "/").lower() if is_windows_path(path) else path


class RelaySession:
    def __init__(self, channel: KernelChannel, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.channel = channel
        self.reader = reader
        self.writer = writer
        self.mapper = PathMapper()
        self.seq = 0
        self.joined = False
        self.initialized = False
        self.disconnected = False
        self.attach_msg_id: str | None = None
        self.stopped_threads: set[int] = set()
        self.all_stopped = False
        self.editor_breakpoints: dict[str, list[dict[str, Any]]] = {}
        self.active_cells: dict[str, dict[str, Cell]] = {}
        self._tasks: set[asyncio.Task] = set()

    # -- plumbing -------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        self.seq += 1
        message["seq"] = self.seq
        if not self.writer.is_closing():
            self.writer.write(encode_message(message))

    def _event(self, event: str, body: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"type": "event", "event": event}
        if body is not None:
            message["body"] = body
        self._send(message)

    def _respond(self, request: dict[str, Any], success: bool = True, body: Any = None,
                 message: str | None = None) -> None:
        response: dict[str, Any] = {"type": "response", "request_seq": request.get("seq", 0),
                                    "command": request.get("command", ""), "success": success}
        if message:
            response["message"] = message
        if body is not None:
            response["body"] = body
        self._send(response)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forward(self, command: str, arguments: Any, seq: int) -> tuple[str, asyncio.Future]:
        content: dict[str, Any] = {"type": "request", "seq": seq, "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        return self.channel.send("control", "debug_request", content)

    async def _kernel_reply(self, future: asyncio.Future, command: str,
                            timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        try:
            reply = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise KernelError(f"the kernel's debugger did not answer '{command}' within {timeout:g} s") from None
        content = reply.get("content") or {}
        if not content:
            raise KernelError(f"the kernel's debugger cannot serve '{command}': it is not started, or it "
                              "is off because the kernel runs in kernel-dev mode (then use "
                              "'kerneldock attach --kernel-dev KERNEL')")
        return content

    async def internal(self, command: str, arguments: Any) -> dict[str, Any]:
        """A request of the relay's own, never seen by the editor."""
        _, future = self._forward(command, arguments, 0)
        return await self._kernel_reply(future, command)

    # -- the session ----------------------------------------------------------------
    async def run(self, first: dict[str, Any] | None = None) -> str:
        """Relay until one side ends; return "editor" or "kernel".

        ``first`` is the editor's first message when the caller has read it already.
        """
        events = self.channel.subscribe()
        if first is not None and first.get("type") == "request":
            self._dispatch(first)
        kernel = asyncio.create_task(self._kernel_loop(events))
        editor = asyncio.create_task(self._editor_loop())
        try:
            done, _ = await asyncio.wait({kernel, editor}, return_when=asyncio.FIRST_COMPLETED)
            ended = "kernel" if kernel in done else "editor"
            if ended == "editor" and self.initialized and not self.disconnected:
                await self._end_session()
            return ended
        finally:
            for task in (kernel, editor, *self._tasks):
                task.cancel()
            self.channel.unsubscribe(events)
            try:
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                pass
            self.writer.close()

    async def _editor_loop(self) -> None:
        while True:
            try:
                message = await read_message(self.reader)
            except (FramingError, ConnectionError) as error:
                log.warning("editor connection: %s", error)
                return
            if message is None:
                return
            if message.get("type") == "request":
                self._dispatch(message)
                if message.get("command") in ("disconnect", "terminate"):
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                    return
            await self.writer.drain()

    def _dispatch(self, request: dict[str, Any]) -> None:
        """Start serving one editor request; kernel-bound ones are sent before returning."""
        command = request.get("command")
        handler = getattr(self, f"_{command}_request", None)
        if handler is not None:
            self._spawn(self._guarded(request, handler(request)))
            return
        if command in RESUME_COMMANDS and not self._suspended(request):
            body = {"allThreadsContinued": True} if command == "continue" else None
            self._respond(request, True, body)
            return
        self._spawn(self._guarded(request, self._relay(request)))

    async def _guarded(self, request: dict[str, Any], coro) -> None:
        try:
            await coro
        except KernelError as error:
            self._respond(request, False, message=str(error))

    def _suspended(self, request: dict[str, Any]) -> bool:
        thread = (request.get("arguments") or {}).get("threadId")
        return self.all_stopped or thread in self.stopped_threads or (thread is None and bool(self.stopped_threads))

    async def _relay(self, request: dict[str, Any], arguments: Any = None) -> dict[str, Any]:
        """Forward to the kernel as is (paths mapped) and answer the editor."""
        command = request["command"]
        if arguments is None:
            arguments = copy.deepcopy(request.get("arguments"))
            if arguments is not None:
                self.mapper.request_to_remote(arguments)
        _, future = self._forward(command, arguments, request.get("seq", 0))
        content = await self._kernel_reply(future, command)
        body = content.get("body")
        success = content.get("success", body is not None)
        if body is not None:
            self.mapper.reply_to_local(body)
        self._respond(request, bool(success), body, content.get("message"))
        if success:
            self._after_success(command, request.get("arguments") or {})
        return content

    def _after_success(self, command: str, arguments: dict[str, Any]) -> None:
        if command == "continue":
            self.stopped_threads.clear()
            self.all_stopped = False
        elif command in RESUME_COMMANDS:
            self.stopped_threads.discard(arguments.get("threadId"))
            self.all_stopped = False

    # -- requests with their own handling -------------------------------------------
    async def _initialize_request(self, request: dict[str, Any]) -> None:
        info = await self.internal("debugInfo", {})
        arguments = dict(request.get("arguments") or {})
        for capability in REVERSE_REQUEST_CAPABILITIES:
            arguments.pop(capability, None)
        if info.get("body", {}).get("isStarted"):
            self.joined = True
            self._respond(request, True, dict(JOIN_CAPABILITIES))
        else:
            _, future = self._forward("initialize", arguments, request.get("seq", 0))
            content = await self._kernel_reply(future, "initialize")
            if not content.get("success"):
                self._respond(request, False, message=content.get("message") or
                              "the kernel could not start its debugger (is debugpy installed in the kernel?)")
                return
            body = dict(content.get("body") or {})
            body["supportsTerminateRequest"] = False
            self._respond(request, True, body)
        self.initialized = True

    async def _attach_request(self, request: dict[str, Any]) -> None:
        arguments = dict(request.get("arguments") or {})
        for mapping in arguments.pop("pathMappings", None) or []:
            if isinstance(mapping, dict) and mapping.get("localRoot") and mapping.get("remoteRoot"):
                self.mapper.mappings.append(Mapping(mapping["localRoot"], mapping["remoteRoot"]))
        for key in ("connect", "host", "port", "listen", "processId"):
            arguments.pop(key, None)
        if self.joined:
            self._respond(request, True)
            self._event("initialized")
            info = await self.internal("debugInfo", {})
            for thread in info.get("body", {}).get("stoppedThreads", []):
                self.stopped_threads.add(thread)
                self._event("stopped", {"reason": "breakpoint", "threadId": thread,
                                        "allThreadsStopped": False,
                                        "description": "stopped by another front-end"})
            return
        msg_id, future = self._forward("attach", arguments, request.get("seq", 0))
        self.attach_msg_id = msg_id
        content = await self._kernel_reply(future, "attach")
        self._respond(request, bool(content.get("success")), content.get("body"), content.get("message"))

    async def _setBreakpoints_request(self, request: dict[str, Any]) -> None:
        arguments = request.get("arguments") or {}
        local = (arguments.get("source") or {}).get("path")
        if isinstance(local, str):
            self.editor_breakpoints[path_key(local)] = list(arguments.get("breakpoints") or [])
        await self._relay(request)
        if isinstance(local, str):
            for remote, cell in self.active_cells.get(path_key(local), {}).items():
                await self._set_cell_breakpoints(local, remote, cell, stop_on_entry=False)

    async def _source_request(self, request: dict[str, Any]) -> None:
        arguments = copy.deepcopy(request.get("arguments") or {})
        reference = arguments.get("sourceReference") or (arguments.get("source") or {}).get("sourceReference")
        remote = self.mapper.remote_for_reference(reference) if reference else None
        if remote is not None:
            arguments = {"source": {"path": remote}, "sourceReference": 0}
            await self._relay(request, arguments)
        else:
            await self._relay(request)

    async def _terminate_request(self, request: dict[str, Any]) -> None:
        # Terminating would kill the kernel; the editor's "stop" ends the session instead.
        self._respond(request, True)
        await self._end_session()
        self._event("terminated")

    async def _disconnect_request(self, request: dict[str, Any]) -> None:
        await self._end_session()
        self._respond(request, True)

    async def _end_session(self) -> None:
        if self.disconnected:
            return
        self.disconnected = True
        if self.joined:
            # Leave the other front-end's session alone; remove only what this editor set.
            for key, cells in self.active_cells.items():
                for remote in cells:
                    await self._quiet("setBreakpoints", {"source": {"path": remote}, "breakpoints": []})
            for local in self.editor_breakpoints:
                await self._quiet("setBreakpoints", {"source": {"path": self.mapper.to_remote(local)},
                                                     "breakpoints": []})
            return
        await self._quiet("disconnect", {"restart": False, "terminateDebuggee": False})

    async def _quiet(self, command: str, arguments: dict[str, Any]) -> None:
        try:
            await self.internal(command, arguments)
        except KernelError as error:
            log.warning("%s while ending the session: %s", command, error)

    # -- cells (kerneldock run) -----------------------------------------------------
    async def prepare_cell(self, local_path: str, cell: Cell, stop_on_entry: bool) -> str:
        """Called by the attach server for ``kerneldock run``: make the editor's breakpoints
        on ``local_path`` lines inside ``cell`` hit when the cell runs."""
        reply = await self.internal("dumpCell", {"code": cell.code})
        remote = reply["body"]["sourcePath"]
        self.mapper.add_cell(remote, CellSource(local_path, cell.line_offset))
        self.active_cells.setdefault(path_key(local_path), {})[remote] = cell
        await self._set_cell_breakpoints(local_path, remote, cell, stop_on_entry)
        return remote

    async def _set_cell_breakpoints(self, local_path: str, remote: str, cell: Cell,
                                    stop_on_entry: bool) -> None:
        wanted = []
        for breakpoint in self.editor_breakpoints.get(path_key(local_path), []):
            line = breakpoint.get("line")
            if isinstance(line, int) and cell.first_code_line <= line <= cell.end_line:
                wanted.append({**breakpoint, "line": line - cell.line_offset})
        if stop_on_entry and not any(b["line"] == 1 for b in wanted):
            wanted.append({"line": 1})
        await self.internal("setBreakpoints", {"source": {"path": remote}, "breakpoints": wanted,
                                               "sourceModified": False})

    # -- kernel side ----------------------------------------------------------------
    async def _kernel_loop(self, queue: asyncio.Queue) -> None:
        while True:
            message = await queue.get()
            if message is None:
                self._lost("the connection to the kernel closed (tunnel or gateway gone?)")
                return
            kind = message["header"]["msg_type"]
            content = message.get("content") or {}
            if kind == "status" and content.get("execution_state") in ("restarting", "dead"):
                self._lost("the kernel died (the gateway is restarting it; its state is gone)")
                return
            if kind == "debug_event" and self.initialized:
                self._kernel_event(message, content)
                await self.writer.drain()

    def _kernel_event(self, message: dict[str, Any], content: dict[str, Any]) -> None:
        event = content.get("event")
        body = copy.deepcopy(content.get("body") or {})
        if event == "initialized":
            if self.joined or parent_id(message) != self.attach_msg_id:
                return  # another front-end's session set-up
        elif event == "stopped":
            if body.get("threadId") is not None:
                self.stopped_threads.add(body["threadId"])
            self.all_stopped = self.all_stopped or bool(body.get("allThreadsStopped"))
        elif event == "continued":
            if body.get("allThreadsContinued", True):
                self.stopped_threads.clear()
                self.all_stopped = False
            else:
                self.stopped_threads.discard(body.get("threadId"))
        self.mapper.reply_to_local(body)
        self._event(event, body)

    def _lost(self, why: str) -> None:
        self.disconnected = True
        if self.initialized:
            self._event("output", {"category": "important", "output": f"kerneldock: {why}\n"})
            self._event("terminated")
