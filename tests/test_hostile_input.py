"""Hostile input to every gateway route, kernel websocket and debugger, and to ``kerneldock
attach``'s DAP port: what a user (or a broken client) can send with a valid token.

After each onslaught: no 5xx, no traceback in an answer or in the gateway log (running_stack
checks the log), every error is one line of JSON, the gateway still answers and its docker
health stays healthy, and a kernel started before it all still holds its variable.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tornado.httpclient import HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, websocket_connect

from kerneldock.common.errors import KernelError
from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.hostile import CONTENT_TYPES, METHODS, OVERSIZED, ROUTES, bodies, queries, raw_request, segments
from support.stack import Tunnel, gateway_env_override, running_stack

# Deliberate faults the gateway logs as one-line warnings: client errors in the access log
# (5xx are never allowed), and tornado refusing a malformed form body.
ALLOWED = (
    r"^\[W \d+ [\d:]+ web:\d+\] 4\d\d ",
    r"^\[W \d+ [\d:]+ httputil:\d+\] (?:Invalid multipart/form-data|Unsupported Content-Encoding|Malformed HTTP)",
    r"gateway log level set to",
    r"^WARNING\[[^\]]*\] KernelGatewayApp: kernel [\w-]+: (?:dropped a websocket message|refused a debug_request) from the client \(",
    r"^WARNING\[[^\]]*\] KernelGatewayApp: Kernelspec name .* is invalid: Kernel names can only contain",
    r"^\[IPKernelApp\] WARNING \| Unknown message type: '(?:no_such_request|execute_reply)'",
)
EXAMPLES_PER_ROUTE = 25
OVERSIZED_JSON = OVERSIZED[1]
SECRET = "gateway-only-secret-" + secrets.token_hex(4)
OVERRIDE = gateway_env_override(KERNELDOCK_TEST_SECRET=SECRET)


@pytest.fixture(scope="module")
def stack(images):
    with running_stack(images, allowed_log_problems=ALLOWED, override=OVERRIDE) as stack:
        yield stack


@pytest.fixture(scope="module")
def tunnel(stack):
    with Tunnel(stack) as tunnel:
        yield tunnel


@pytest.fixture(scope="module")
def api(stack, tunnel):
    return GatewayAPI(tunnel.url, stack.token)


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def execute(api: GatewayAPI, kernel_id: str, code: str) -> str:
    async with KernelChannel(api, kernel_id) as channel:
        result = await channel.execute(code, timeout=60)
    assert result.status == "ok", result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def bystander(api):
    """A kernel started before any hostile input, never named in it; holds a variable."""
    kernel = run(api.start_kernel())
    value = "kept-" + secrets.token_hex(8)
    run(execute(api, kernel["id"], f"sentinel = {value!r}"))
    return kernel["id"], value


@pytest.fixture(scope="module")
def target(api):
    """A kernel the hostile input does name (it may be restarted or shut down by it)."""
    return run(api.start_kernel())["id"]


def assert_unharmed(stack, tunnel, api, bystander) -> None:
    """What a user would check: the gateway answers, docker finds it healthy, and the other
    kernel still has its state."""
    answer = raw_request(tunnel.port, "GET", "/api", token=stack.token)
    assert answer.status == 200 and "version" in answer.json()
    assert stack.health(stack.container("gateway")) == "healthy"
    kernel_id, value = bystander
    assert run(execute(api, kernel_id, "print(sentinel)")).strip() == value


def assert_well_formed_error(answer, what) -> None:
    assert answer.status < 500, (what, answer.status, answer.body[:300])
    if answer.status >= 400:
        text = answer.body.decode("utf-8")  # raises on a body that is not UTF-8
        assert "\n" not in text.strip(), (what, text[:300])
        payload = json.loads(text)
        assert isinstance(payload, dict) and isinstance(payload.get("message"), str), (what, text[:300])
        assert "traceback" not in text.lower(), (what, text[:300])


def clean_up_after(tunnel, stack, method, path, answer) -> None:
    """Shut down what a request that succeeded has started (kernels, sessions)."""
    if method != "POST" or answer.status != 201:
        return
    model = answer.json()
    if path == "/api/sessions":
        gone = raw_request(tunnel.port, "DELETE", f"/api/sessions/{model['id']}", token=stack.token)
    else:
        gone = raw_request(tunnel.port, "DELETE", f"/api/kernels/{model['id']}", token=stack.token)
    assert gone.status == 204, gone


@st.composite
def requests(draw, route: str, target_id: str):
    kernel = draw(st.one_of(st.just(target_id), segments()))
    path = (route.replace("{id}", kernel).replace("{name}", draw(st.one_of(st.just("python3"), segments())))
            .replace("{garbage}", draw(segments())))
    query = draw(queries())
    return (draw(st.sampled_from(METHODS)), path, path + ("?" + query if query else ""),
            draw(bodies()), draw(st.sampled_from(CONTENT_TYPES)))


def send(stack, tunnel, method, path, url, body, content_type=None):
    answer = raw_request(tunnel.port, method, url, token=stack.token, body=body, content_type=content_type)
    assert_well_formed_error(answer, (method, url[:200], body[:100], content_type))
    clean_up_after(tunnel, stack, method, path, answer)
    return answer


@pytest.mark.parametrize("route", ROUTES)
def test_rest_route_answers_hostile_requests_with_one_line_4xx(route, stack, tunnel, api, bystander, target):
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=timedelta(seconds=60), derandomize=True,
              database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests(route, target))
    def fuzz(request):
        send(stack, tunnel, *request)

    fuzz()


NASTY_BODIES = (b"[" * 100_000, b"\xff\xfe{}", OVERSIZED_JSON, b'{"path": "\\u0000", "type": "x"}',
                b'{"kernel_id": "../../../tmp/x"}', b'{"name": 1e999, "env": {"KERNEL_X": NaN}}')


def test_nasty_bodies_on_every_route_and_method(stack, tunnel, api, bystander, target):
    for route in ROUTES:
        path = route.replace("{id}", target).replace("{name}", "python3").replace("{garbage}", "x")
        for method in METHODS:
            for body in NASTY_BODIES:
                send(stack, tunnel, method, path, path, body, "application/json")
    assert_unharmed(stack, tunnel, api, bystander)


def test_malformed_http_is_refused_and_the_gateway_keeps_serving(stack, tunnel, api, bystander):
    for garbage in (b"\x00\xff\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /api HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"POST /api/kernels HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", tunnel.port), timeout=30) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), (garbage, reply[:200])
    assert_unharmed(stack, tunnel, api, bystander)


# -- the kernel websocket --------------------------------------------------------------------

def message(msg_type: str, content, channel="shell", **parts):
    msg = {"header": {"msg_id": secrets.token_hex(8), "msg_type": msg_type, "username": "x", "session": "x",
                      "date": "2026-01-01T00:00:00Z", "version": "5.3"},
           "parent_header": {}, "metadata": {}, "content": content, "channel": channel}
    msg.update(parts)
    return msg


def without(msg: dict, key: str) -> dict:
    return {k: v for k, v in msg.items() if k != key}


LEGACY_FRAMES = [
    "not json", "[1, 2]", '"text"', "{}", "null", "[" * 100_000,
    json.dumps(without(message("kernel_info_request", {}), "header")),
    json.dumps(without(message("kernel_info_request", {}), "parent_header")),
    json.dumps(without(message("kernel_info_request", {}), "channel")),
    json.dumps(message("kernel_info_request", {}, header="x")),
    json.dumps(message("kernel_info_request", {}, header={"msg_type": "kernel_info_request"})),
    json.dumps(message("kernel_info_request", [1])),
    json.dumps(message("kernel_info_request", {}, channel="iopub")),
    json.dumps(message("kernel_info_request", {}, channel="no-such-channel")),
    json.dumps(message("kernel_info_request", {}, channel=7)),
    json.dumps(message("no_such_request", {"x": 1})),
    json.dumps(message("execute_reply", {"status": "ok"})),
    json.dumps(message("execute_request", {})),                       # no code
    json.dumps(message("execute_request", {"code": 5})),
    json.dumps(message("comm_msg", {"comm_id": "nope", "data": {}})),
    json.dumps(message("input_reply", {"value": "x"}, channel="stdin")),
    json.dumps(message("debug_request", "not an object", channel="control")),
    b"\x00\x01\x02garbage" * 10, b"\x7f\xff\xff\xff" + b"\x00" * 12, b"\x00\x00\x00\x01\x00\x00\x00\x08[1]",
]
V1_FRAMES = [
    b"\xff" * 8 + b"\x00" * 8,          # 2**64-1 offsets announced: stock builds that list
    (2 ** 40).to_bytes(8, "little") + b"x" * 64, b"\x06" + b"\x00" * 7 + b"\x00" * 48, b"short", "text on v1",
]
HUGE_FRAME = json.dumps(message("execute_request", {"code": "x = 1  # " + "y" * (20 * 1024 * 1024)}))


async def websocket(api: GatewayAPI, kernel_id: str, subprotocols=None):
    request = HTTPRequest(api.websocket_url(kernel_id, secrets.token_hex(8)), headers=api.auth_headers,
                          connect_timeout=30, request_timeout=30)
    return await websocket_connect(request, subprotocols=subprotocols, max_message_size=64 * 1024 * 1024)


async def kernel_info_reply(ws, timeout: float = 30) -> dict:
    request = message("kernel_info_request", {})
    await ws.write_message(json.dumps(request))

    async def wait():
        while True:
            raw = await ws.read_message()
            assert raw is not None, "websocket closed"
            if isinstance(raw, str):
                reply = json.loads(raw)
                # iopub's status messages carry the same parent: wait for the reply itself.
                if (reply.get("parent_header", {}).get("msg_id") == request["header"]["msg_id"]
                        and reply.get("msg_type", reply.get("header", {}).get("msg_type")) == "kernel_info_reply"):
                    return reply
    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture(scope="module")
def fresh_kernel(api):
    kernel_id = run(api.start_kernel())["id"]
    run(execute(api, kernel_id, "kept = 41 + 1"))
    return kernel_id


def test_malformed_websocket_frames_leave_the_kernel_serving(stack, tunnel, api, bystander, fresh_kernel):
    async def scenario():
        ws = await websocket(api, fresh_kernel)
        for frame in LEGACY_FRAMES:
            await ws.write_message(frame, binary=isinstance(frame, bytes))
        # The same websocket still works: bad frames are dropped, not fatal.
        assert "protocol_version" in (await kernel_info_reply(ws))["content"]
        started = time.monotonic()
        try:
            await ws.write_message(HUGE_FRAME)
        except (StreamClosedError, WebSocketClosedError):
            pass  # the gateway may close before the last byte is written
        async def closed():
            while await ws.read_message() is not None:
                pass  # what the kernel still sent before the refusal
        await asyncio.wait_for(closed(), 60)
        assert ws.close_code in (None, 1009), ws.close_code  # tornado closes (1009) or aborts
        huge = time.monotonic() - started
        v1 = await websocket(api, fresh_kernel, ["v1.kernel.websocket.jupyter.org"])
        assert v1.selected_subprotocol == "v1.kernel.websocket.jupyter.org"
        for frame in V1_FRAMES:
            await v1.write_message(frame, binary=isinstance(frame, bytes))
        v1.close()
        return huge

    huge = run(scenario())
    print(f"\n20 MB frame refused in {huge:.1f} s")
    assert run(execute(api, fresh_kernel, "print(kept)")).strip() == "42"
    assert_unharmed(stack, tunnel, api, bystander)


# -- the kernel's debugger -------------------------------------------------------------------

BAD_DAP = [
    ("unknown command", {"command": "noSuchCommand", "arguments": {"x": 1}}),
    ("no command", {"arguments": {"x": 1}}),
    ("dumpCell without arguments", {"command": "dumpCell"}),
    ("setBreakpoints without arguments", {"command": "setBreakpoints"}),
    ("setBreakpoints of wrong types", {"command": "setBreakpoints", "arguments": {"source": "x", "breakpoints": 5}}),
    ("setBreakpoints on a file that does not exist", {"command": "setBreakpoints", "arguments": {
        "source": {"path": "/no/such/file.py"}, "breakpoints": [{"line": 3}]}}),
    ("evaluate without a stopped frame", {"command": "evaluate", "arguments": {"expression": "kept", "frameId": 99}}),
    ("variables of a reference that does not exist", {"command": "variables", "arguments": {"variablesReference": "x"}}),
    ("seq not a number", {"command": "debugInfo", "seq": "x", "arguments": {"x": 1}}),
    ("arguments not an object", {"command": "source", "arguments": "x"}),
    ("richInspectVariables without frameId", {"command": "richInspectVariables", "arguments": {"variableName": "kept"}}),
]


async def debug_reply(channel: KernelChannel, payload: dict, timeout: float) -> dict | None:
    content = {"type": "request", "seq": 1000, **payload}
    try:
        return (await channel.request("control", "debug_request", content, timeout))["content"]
    except KernelError:
        return None


def test_bad_dap_payloads_get_an_answer_and_leave_the_debugger_working(stack, tunnel, api, bystander, fresh_kernel):
    async def scenario():
        async with KernelChannel(api, fresh_kernel) as channel:
            assert (await channel.debug("initialize", {"clientID": "hostile", "adapterID": "python",
                                                       "pathFormat": "path"}))["success"]
            assert (await channel.debug("attach", {"justMyCode": True}))["success"]
            replies = {}
            for what, payload in BAD_DAP:
                replies[what] = await debug_reply(channel, payload, 10)
            info = await debug_reply(channel, {"command": "debugInfo", "arguments": {"x": 1}}, 10)
            await channel.debug("disconnect", {"restart": False, "terminateDebuggee": False})
            return replies, info

    replies, info = run(scenario(), 300)
    for what, reply in replies.items():
        print(f"\n  {what}: {json.dumps(reply)[:200]}")
    assert info is not None and info["success"], info
    silent = [what for what, reply in replies.items() if reply is None]
    assert silent == [], silent
    assert run(execute(api, fresh_kernel, "print(kept)")).strip() == "42"
    assert_unharmed(stack, tunnel, api, bystander)
