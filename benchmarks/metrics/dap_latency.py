"""Metric 9: while stopped at a breakpoint, DAP request latency (``stackTrace``, ``evaluate``)
and a later stop (``execute_request`` sent to ``stopped`` received).

kerneldock: an editor's path. ``kerneldock connect`` (the SSH tunnel through the bastion),
``kerneldock attach`` (the DAP relay on this machine's loopback), and the test suite's
DAP client sending VS Code's payloads; the cell runs from a notebook websocket through the
same tunnel. Stock: the same DAP requests sent as ``debug_request`` over the stock
gateway's websocket (kerneldock attach is kerneldock's own); the same is measured on
kerneldock's websocket too, to show what the relay and the tunnel add. Both break in the same module
function in /workspace. The first stop of each session is a warm-up and not counted.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

from kerneldock.laptop.gateway_api import GatewayAPI
from support.dap_client import DapClient
from support.jupyter_debug import LAB_INITIALIZE, next_debug_event
from support.laptop import Laptop
from support.loop import BackgroundLoop
from support.marks import marked_line
from support.net import free_port, port_open
from support.wait import wait_until

from ..bounded import bounded
from ..cells import DAP_CALL, DAP_MODULE, DAP_MODULE_NAME
from ..client import shutdown, start_until_ready
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize

LINE = marked_line(DAP_MODULE)
REMOTE_PATH = f"/workspace/{DAP_MODULE_NAME}.py"


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def kerneldock_samples(settings: Settings, target: Target, user: Laptop) -> dict[str, list[float]]:
    stack = target.stack
    local = stack.workspace / f"{DAP_MODULE_NAME}.py"
    local.write_text(DAP_MODULE)
    samples = {"stackTrace": [], "evaluate": [], "stop": []}
    loop = BackgroundLoop()
    api = GatewayAPI(user.facts["gateway_url"], target.token)
    kernel_id, channel, _ = loop.call(start_until_ready(api))
    port = free_port()
    relay = user.popen("attach", kernel_id[:8], "--port", str(port), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    editor = None
    try:
        wait_until(lambda: relay.poll() is not None or port_open(port), 30, "kerneldock attach listening")
        assert relay.poll() is None, relay.stderr.read()
        editor = DapClient(port)
        editor.vscode_attach(port, [{"localRoot": str(stack.workspace), "remoteRoot": "/workspace"}],
                             {str(local): [LINE]})
        for index in bounded(settings.dap_stops + 1, settings.budget, "kerneldock stops"):
            began = time.perf_counter()
            running = loop.submit(channel.execute(DAP_CALL, timeout=60))
            thread = editor.event("stopped", 30)["body"]["threadId"]
            if index:
                samples["stop"].append(time.perf_counter() - began)
            for _ in range(settings.dap_requests):
                took, frames = timed(lambda: editor.ok("stackTrace", {"threadId": thread, "startFrame": 0,
                                                                      "levels": 20})["stackFrames"])
                samples["stackTrace"].append(took)
                took, value = timed(lambda: editor.ok("evaluate", {"expression": "len(squares)", "context": "repl",
                                                                   "frameId": frames[0]["id"]})["result"])
                samples["evaluate"].append(took)
                assert value == "10", value
            editor.ok("continue", {"threadId": thread})
            assert running.result(60).status == "ok"
        editor.ok("disconnect", {"restart": False})
    finally:
        if editor is not None:
            editor.close()
        relay.terminate()
        try:
            relay.wait(10)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait(5)
        try:
            loop.call(shutdown(api, kernel_id, channel), 30)
        finally:
            loop.close()
    return samples


async def websocket_samples(settings: Settings, target: Target) -> dict[str, list[float]]:
    api = GatewayAPI(target.url, target.token)
    kernel_id, channel, _ = await start_until_ready(api)
    samples = {"stackTrace": [], "evaluate": [], "stop": []}
    events = channel.subscribe()
    try:
        await channel.execute(f"import os\nif not os.path.exists({REMOTE_PATH!r}):\n"
                              f"    open({REMOTE_PATH!r}, 'w').write({DAP_MODULE!r})")
        assert (await channel.debug("initialize", LAB_INITIALIZE))["success"]
        assert (await channel.debug("attach", {}))["success"]
        bps = await channel.debug("setBreakpoints", {"source": {"path": REMOTE_PATH}, "breakpoints": [{"line": LINE}],
                                                     "sourceModified": False})
        assert bps["body"]["breakpoints"][0]["verified"], bps
        assert (await channel.debug("configurationDone", {}))["success"]
        for index in bounded(settings.dap_stops + 1, settings.budget, "stock stops"):
            began = time.perf_counter()
            running = asyncio.ensure_future(channel.execute(DAP_CALL, timeout=60))
            thread = (await next_debug_event(events, "stopped", 30))["body"]["threadId"]
            if index:
                samples["stop"].append(time.perf_counter() - began)
            for _ in range(settings.dap_requests):
                began = time.perf_counter()
                frames = (await channel.debug("stackTrace", {"threadId": thread, "startFrame": 0,
                                                             "levels": 20}))["body"]["stackFrames"]
                samples["stackTrace"].append(time.perf_counter() - began)
                began = time.perf_counter()
                value = (await channel.debug("evaluate", {"expression": "len(squares)", "context": "repl",
                                                          "frameId": frames[0]["id"]}))["body"]["result"]
                samples["evaluate"].append(time.perf_counter() - began)
                assert value == "10", value
            assert (await channel.debug("continue", {"threadId": thread}))["success"]
            assert (await running).status == "ok"
        await channel.debug("disconnect", {"restart": False, "terminateDebuggee": False})
    finally:
        channel.unsubscribe(events)
        await shutdown(api, kernel_id, channel)
    return samples


def measure(settings: Settings, kerneldock: Target | None, user: Laptop | None, stock: Target | None,
            run) -> list[Figure]:
    found = {}
    if kerneldock is not None and user is not None:
        found["kerneldock"] = kerneldock_samples(settings, kerneldock, user)
    if kerneldock is not None:
        found["kerneldock_ws"] = run(websocket_samples(settings, kerneldock), settings.budget + 120)
    if stock is not None:
        found["stock"] = run(websocket_samples(settings, stock), settings.budget + 120)
    for name, s in found.items():
        print(f"  {name}: stackTrace {summarize(s['stackTrace'], 1e3).median:.1f} ms, evaluate "
              f"{summarize(s['evaluate'], 1e3).median:.1f} ms, later stop {summarize(s['stop'], 1e3).median:.1f} ms",
              flush=True)
    get = lambda n, key: summarize(found.get(n, {}).get(key, []), 1e3)  # noqa: E731
    path = ["kerneldock: DAP client -> kerneldock attach -> SSH tunnel -> gateway websocket -> kernel; "
            "stock: debug_request over the stock gateway's websocket, no tunnel"]
    return [
        Figure(9, "dap_stacktrace", "stackTrace while stopped", "ms", get("kerneldock", "stackTrace"),
               get("stock", "stackTrace"), Goal("<=", 15, "at most 15 ms median"), notes=path),
        Figure(9, "dap_evaluate", "evaluate while stopped", "ms", get("kerneldock", "evaluate"),
               get("stock", "evaluate"), Goal("<=", 15, "at most 15 ms median")),
        Figure(9, "later_stop", "later stop: execute to stopped", "ms", get("kerneldock", "stop"),
               get("stock", "stop"), Goal("<=", 30, "at most 30 ms")),
        *(Figure(9, f"{key}_ws", f"{what}, kerneldock without attach and tunnel", "ms",
                 get("kerneldock_ws", sample), get("stock", sample),
                 notes=["debug_request over kerneldock's websocket at the container address, as stock: "
                        "where the time goes"] if sample == "stop" else [])
          for key, what, sample in [("dap_stacktrace", "stackTrace while stopped", "stackTrace"),
                                    ("dap_evaluate", "evaluate while stopped", "evaluate"),
                                    ("later_stop", "later stop", "stop")]),
    ]
