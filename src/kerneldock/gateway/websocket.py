"""Kernel websocket connection: Nagle's algorithm off, debug events never rate-limited.

Kernel Gateway (through jupyter_server) never sets TCP_NODELAY on kernel websockets, so
each small request/reply pair can wait on a delayed ACK (tens of milliseconds per
``execute_request``). The gateway's ``KernelGatewayApp.kernel_websocket_connection_class``
trait points here; jupyter_server calls :meth:`connect` once per websocket, after the
handshake.

jupyter_server drops iopub messages above its rate limits; a burst of cell output just
before a breakpoint could then drop the ``stopped`` ``debug_event`` for good, leaving the
debugger front-end waiting forever. Debug events are few and small, so they always pass.

jupyter_server trusts what a client sends on the websocket: a frame that is not JSON, of the
wrong shape, or naming the iopub channel raised in the handler (a traceback in the log, the
websocket dropped), and the offsets of a binary frame were believed, so a few bytes could
make the gateway build a list of 2**63 entries and stop serving everyone. Each frame is
checked here first; a bad one is dropped with one warning line, and the websocket stays.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado.websocket import WebSocketClosedError

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
# What a client may send on: never iopub (a SUB socket; sending on it raises).
CLIENT_CHANNELS = ("shell", "control", "stdin")


class BadFrame(Exception):
    """A websocket frame that is not a Jupyter message a kernel could take."""


def _json_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadFrame(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise BadFrame(f"{what} is not a JSON object")
    return value


def _offsets(frame: bytes, count: int, size: int, fmt: str) -> list[int]:
    """``count`` offsets of ``size`` bytes after the count field, each within the frame."""
    if not 0 < count <= len(frame) // size - 1:
        raise BadFrame(f"binary frame announces {count} parts in {len(frame)} bytes")
    offsets = [struct.unpack(fmt, frame[size * (i + 1):size * (i + 2)])[0] for i in range(count)]
    if offsets != sorted(offsets) or offsets[-1] > len(frame) or offsets[0] < size * (count + 1):
        raise BadFrame("binary frame has offsets outside the frame")
    return offsets


def check_header(header: Any) -> None:
    if not isinstance(header, dict):
        raise BadFrame("'header' is not an object")
    for key in ("msg_id", "msg_type"):
        if not isinstance(header.get(key), str) or not header[key]:
            raise BadFrame(f"'header.{key}' is not a non-empty string")


def check_legacy(frame: str | bytes) -> tuple[dict[str, Any], bool] | None:
    """A frame of the default protocol (JSON text, or jupyter_server's binary form with
    buffers); returns a text frame's message with its missing parts filled in (stock
    jupyter_server needs every part) and whether any was, None for a binary frame (passed
    on as it is)."""
    if isinstance(frame, bytes):
        if len(frame) < 8:
            raise BadFrame("binary frame too short")
        offsets = _offsets(frame, struct.unpack("!i", frame[:4])[0], 4, "!I")
        message = _json_object(frame[offsets[0]:offsets[1] if len(offsets) > 1 else None], "message")
    else:
        message = _json_object(frame, "message")
    complete = all(key in message for key in ("channel", "parent_header", "metadata", "content"))
    channel = message.get("channel", "shell")
    if channel not in CLIENT_CHANNELS:
        raise BadFrame(f"channel {str(channel)[:40]!r} is not one a client sends on")
    check_header(message.get("header"))
    for key in ("parent_header", "metadata", "content"):
        if not isinstance(message.setdefault(key, {}), dict):
            raise BadFrame(f"'{key}' is not an object")
    if message["header"]["msg_type"] == "execute_request" and not isinstance(message["content"].get("code"), str):
        raise BadFrame("execute_request without a string 'code'")
    if isinstance(frame, bytes):
        return None
    message["channel"] = channel
    return message, not complete


# DAP requests ipykernel's debugger raises on (and so never answers), by what it indexes.
DAP_ARGUMENTS = {
    "dumpCell": {"code": str},
    "setBreakpoints": {"source": dict, "breakpoints": list},
    "source": {"source": dict},
    "variables": {"variablesReference": int},
    "richInspectVariables": {"variableName": str},
    "copyToGlobals": {"dstVariableName": str, "srcVariableName": str, "srcFrameId": int},
    "attach": {},
}


def dap_problem(content: dict[str, Any]) -> str | None:
    """Why ipykernel would raise on this ``debug_request`` content (None: it would not)."""
    command, arguments = content.get("command"), content.get("arguments")
    if not isinstance(command, str) or not command:
        return "the DAP request has no 'command'"
    if not isinstance(content.get("seq"), int):
        return "the DAP request has no integer 'seq'"
    if arguments is not None and not isinstance(arguments, dict):
        return "'arguments' is not an object"
    wanted = DAP_ARGUMENTS.get(command)
    if wanted is not None:
        if not isinstance(arguments, dict):
            return f"'{command}' needs 'arguments'"
        for key, kind in wanted.items():
            if not isinstance(arguments.get(key), kind) or isinstance(arguments.get(key), bool):
                return f"'{command}' needs 'arguments.{key}' ({kind.__name__})"
        if command in ("setBreakpoints", "source") and not isinstance(arguments["source"].get("path"), str):
            return f"'{command}' needs 'arguments.source.path' (str)"
    return None


def check_v1(frame: str | bytes) -> None:
    """A frame of the ``v1.kernel.websocket.jupyter.org`` protocol (binary only)."""
    if not isinstance(frame, bytes) or len(frame) < 16:
        raise BadFrame("v1 frames are binary, with at least one offset")
    offsets = _offsets(frame, int.from_bytes(frame[:8], "little"), 8, "<Q")
    count = len(offsets)
    if count < 6:
        raise BadFrame("v1 frame has fewer than the 4 message parts")
    try:
        channel = frame[offsets[0]:offsets[1]].decode("utf-8")
    except UnicodeDecodeError:
        raise BadFrame("channel is not UTF-8") from None
    if channel not in CLIENT_CHANNELS:
        raise BadFrame(f"channel {channel[:40]!r} is not one a client sends on")
    parts = [frame[offsets[i]:offsets[i + 1]] for i in range(1, 5)]
    check_header(_json_object(parts[0], "header"))
    for part, name in zip(parts[1:], ("parent_header", "metadata", "content")):
        _json_object(part, name)


class NoDelayWebsocketConnection(ZMQChannelsWebsocketConnection):
    """A stock ZMQ-backed kernel websocket with TCP_NODELAY and unthrottled debug events."""

    def connect(self):
        """Called by the websocket handler's ``open()``; sets TCP_NODELAY, then connects."""
        handler = self.websocket_handler
        if handler is not None and handler.ws_connection is not None:
            handler.set_nodelay(True)
        return super().connect()

    @property
    def write_message(self):
        """What jupyter_server writes each kernel message to the client with. To a websocket
        that has closed (JupyterLab reconnecting with the same session replaces the old one
        while its messages still arrive) the stock one raised, and each message became an
        empty WARNING line; they are dropped quietly."""
        write = self.websocket_handler.write_message

        def write_or_drop(message, binary=False):
            try:
                return write(message, binary=binary)
            except WebSocketClosedError:
                self.log.debug("kernel %s: a message for a closed websocket dropped", self.kernel_id)
                return None

        return write_or_drop

    def handle_incoming_message(self, incoming_msg: str | bytes) -> None:
        """Called by the websocket handler for each frame from the client."""
        try:
            if self.subprotocol == V1_PROTOCOL:
                check_v1(incoming_msg)
            else:
                checked = check_legacy(incoming_msg)
                if checked is not None:
                    message, filled_in = checked
                    if self._refused_debug_request(message):
                        return
                    if filled_in:  # else the frame goes on as sent, not encoded again
                        incoming_msg = json.dumps(message)
            super().handle_incoming_message(incoming_msg)
        except Exception as error:  # noqa: BLE001 - one line per bad frame, never a traceback
            problem = str(error) if isinstance(error, BadFrame) else f"{type(error).__name__}: {str(error)[:200]}"
            self.log.warning("kernel %s: dropped a websocket message from the client (%s)",
                             self.kernel_id, problem)

    def _refused_debug_request(self, message: dict[str, Any]) -> bool:
        """A ``debug_request`` ipykernel would raise on gets an error ``debug_reply`` from
        here (the kernel would never answer, and log a traceback)."""
        if message["header"]["msg_type"] != "debug_request" or message.get("channel") != "control":
            return False
        content = message["content"]
        problem = dap_problem(content)
        if problem is None:
            return False
        self.log.warning("kernel %s: refused a debug_request from the client (%s)", self.kernel_id, problem)
        reply = self.session.msg("debug_reply", {
            "type": "response", "seq": 0, "request_seq": content.get("seq", 0),
            "command": content.get("command", ""), "success": False,
            "message": f"kerneldock gateway: {problem}"}, parent=message["header"])
        reply["channel"] = "control"
        reply.pop("msg_id", None)
        reply.pop("msg_type", None)
        self.write_message(json.dumps(reply, default=json_default))
        return True

    def _limit_rate(self, channel, msg, msg_list):
        """Called by jupyter_server for each outgoing message; True drops it."""
        if channel == "iopub":
            msg["header"] = self.get_part("header", msg["header"], msg_list)
            if msg["header"].get("msg_type") == "debug_event":
                return False
        return super()._limit_rate(channel, msg, msg_list)
