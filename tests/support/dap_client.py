"""A DAP client that speaks like VS Code's debugpy extension (its exact initialize and attach
payloads), written for the tests from the protocol, independent of kerneldock's own code."""

from __future__ import annotations

import json
import socket
import threading
import time
from queue import Empty, Queue
from typing import Any

VSCODE_INITIALIZE = {
    "clientID": "vscode", "clientName": "Visual Studio Code", "adapterID": "debugpy",
    "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True,
    "supportsVariableType": True, "supportsVariablePaging": True,
    "supportsRunInTerminalRequest": True, "locale": "en", "supportsProgressReporting": True,
    "supportsInvalidatedEvent": True, "supportsMemoryReferences": True,
    "supportsArgsCanBeInterpretedByShell": True, "supportsMemoryEvent": True,
    "supportsStartDebuggingRequest": True,
}


class DapClient:
    def __init__(self, port: int, timeout: float = 30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(None)
        self.timeout = timeout
        self.seq = 0
        self.responses: dict[int, Queue] = {}
        self.events: Queue = Queue()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                header, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(header.split(b":")[1])
                while len(buffer) < length:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                message, buffer = json.loads(buffer[:length]), buffer[length:]
                if message["type"] == "response":
                    self._queue(message["request_seq"]).put(message)
                elif message["type"] == "event":
                    self.events.put(message)
        except OSError:
            return
        finally:
            self.closed.set()

    def _queue(self, seq: int) -> Queue:
        with self.lock:
            return self.responses.setdefault(seq, Queue())

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self.seq += 1
        message = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def response(self, seq: int, timeout: float | None = None) -> dict[str, Any]:
        try:
            return self._queue(seq).get(timeout=timeout or self.timeout)
        except Empty:
            raise TimeoutError(f"no response to request {seq}") from None

    def request(self, command: str, arguments: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        response = self.response(self.send(command, arguments), timeout)
        assert response["command"] == command, response
        return response

    def ok(self, command: str, arguments: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        response = self.request(command, arguments, timeout)
        assert response["success"], response
        return response.get("body") or {}

    def event(self, name: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event")
            try:
                event = self.events.get(timeout=remaining)
            except Empty:
                continue
            if event["event"] == name:
                return event

    def vscode_attach(self, port: int, path_mappings: list[dict[str, str]],
                      breakpoints: dict[str, list[int]]) -> dict[str, Any]:
        """VS Code's start-up order: initialize, attach, (initialized), breakpoints, done."""
        capabilities = self.ok("initialize", VSCODE_INITIALIZE)
        attach_seq = self.send("attach", {
            "name": "kerneldock: attach", "type": "debugpy", "request": "attach",
            "connect": {"host": "127.0.0.1", "port": port}, "pathMappings": path_mappings,
            "justMyCode": False, "__sessionId": "test-session"})
        self.event("initialized")
        for path, lines in breakpoints.items():
            self.set_breakpoints(path, lines)
        self.ok("setExceptionBreakpoints", {"filters": []})
        self.ok("configurationDone", {})
        attach = self.response(attach_seq)
        assert attach["success"], attach
        return capabilities

    def set_breakpoints(self, path: str, lines: list[int]) -> list[dict[str, Any]]:
        return self.ok("setBreakpoints", {"source": {"path": path, "name": path.replace("\\", "/").rsplit("/", 1)[-1]},
                                          "breakpoints": [{"line": n} for n in lines],
                                          "lines": lines, "sourceModified": False})["breakpoints"]

    def stopped_frames(self, timeout: float = 30) -> tuple[int, list[dict[str, Any]]]:
        thread = self.event("stopped", timeout)["body"]["threadId"]
        frames = self.ok("stackTrace", {"threadId": thread, "startFrame": 0, "levels": 20})["stackFrames"]
        return thread, frames

    def locals_of(self, frame_id: int) -> dict[str, str]:
        scopes = self.ok("scopes", {"frameId": frame_id})["scopes"]
        scope = next(s for s in scopes if s["name"] == "Locals")
        variables = self.ok("variables", {"variablesReference": scope["variablesReference"]})["variables"]
        return {v["name"]: v["value"] for v in variables}

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
