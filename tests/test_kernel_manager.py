"""The gateway's kernel manager for real: the kernel pool, the kernel limit under concurrent
requests, and the idle culler next to a debugger stopped in a kernel.

Requests go through the bastion's SSH forward, as every client's do.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from kerneldock.common.errors import KerneldockError
from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.jupyter_debug import break_in_cell, next_debug_event
from support.marks import marked_line
from support.stack import Tunnel, gateway_env_override, running_stack
from support.wait import wait_until

MAX_KERNELS = 4
SECRET = "gateway-only-secret-5c2e"
OVERRIDE = gateway_env_override(KERNELDOCK_TEST_SECRET=SECRET)
# What JupyterLab (jupyter_server's gateway client) sends, plus a variable that is not let
# through, and a working directory.
LAB_REQUEST = {"name": "python3", "path": "notebooks/deep",
               "env": {"KERNEL_USERNAME": "ada", "KERNEL_WORKING_DIR": "/home/ada/project",
                       "JPY_SESSION_NAME": "analysis.ipynb", "KERNEL_PROJECT": "kerneldock"}}
# Everything of a kernel's state a fresh start decides and user code can see.
PROBE = (
    "import json as _j, os as _o, sys as _s\n"
    "print(_j.dumps({'env': dict(_o.environ), 'cwd': _o.getcwd(), 'dh': [str(p) for p in _dh],\n"
    "  'dh_types': [type(p).__name__ for p in _dh], 'sys_path': _s.path,\n"
    "  'count': get_ipython().execution_count, 'history': len(In),\n"
    "  'names': sorted(n for n in get_ipython().user_ns if not n.startswith('_') and n not in ('_j', '_o', '_s'))}))\n"
)


def make_workspace_dir(workspace, *parts: str) -> None:
    path = workspace.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        for p in [path, *path.parents]:
            if p == workspace:
                break
            os.chown(p, 1000, 1000)


@pytest.fixture(scope="module")
def stack(images):
    env = {"KERNELDOCK_POOL_SIZE": "1", "KERNELDOCK_MAX_KERNELS": str(MAX_KERNELS)}
    refused = (r"\] 403 POST /api/kernels \([\d.]+\)(: kernel limit reached| [\d.]+ms$)",)
    with running_stack(images, extra_env=env, allowed_log_problems=refused, override=OVERRIDE) as stack:
        make_workspace_dir(stack.workspace, "notebooks", "deep")
        yield stack


@pytest.fixture(scope="module")
def api(stack):
    with Tunnel(stack) as tunnel:
        yield GatewayAPI(tunnel.url, stack.token)


def pool_ready(api: GatewayAPI, run_async, count: int = 1) -> dict:
    return wait_until(lambda: (lambda s: s if s["ready"] >= count else None)(run_async(api.pool())),
                      90, f"{count} pooled kernel(s) ready")


async def probe(api: GatewayAPI, kernel_id: str) -> dict:
    async with KernelChannel(api, kernel_id) as channel:
        await channel.kernel_info()
        result = await channel.execute(PROBE)
    assert result.status == "ok", result.text
    return json.loads(result.stdout)


async def shut_down(api: GatewayAPI, kernel_id: str) -> None:
    # Once it answers: jupyter_client interrupts a kernel before shutting it down, and a
    # kernel interrupted while Python is still starting prints a fatal error to the log.
    async with KernelChannel(api, kernel_id) as channel:
        await channel.kernel_info()
    await api.shutdown_kernel(kernel_id)


async def shut_down_all(api: GatewayAPI) -> None:
    await asyncio.gather(*(shut_down(api, k["id"]) for k in await api.kernels()))


def test_a_pooled_kernel_is_what_a_fresh_start_would_have_been(api, run_async):
    pool_ready(api, run_async)

    async def scenario():
        # The pool holds one kernel: the first request gets it, the second (at once, while
        # the pool refills) a fresh one. Same request, so the two must be indistinguishable.
        pooled = await api.request("POST", "/api/kernels", LAB_REQUEST)
        fresh = await api.request("POST", "/api/kernels", LAB_REQUEST)
        try:
            origin = {m["id"]: m["pooled"] for m in await api.kernel_modes()}
            assert (origin[pooled["id"]], origin[fresh["id"]]) == (True, False), origin
            return await probe(api, pooled["id"]), await probe(api, fresh["id"])
        finally:
            await shut_down_all(api)

    from_pool, from_scratch = run_async(scenario())
    for key in from_scratch:
        assert from_pool[key] == from_scratch[key], key
    assert from_pool["cwd"] == "/workspace/notebooks/deep"
    assert from_pool["dh"] == ["/workspace/notebooks/deep"] and from_pool["dh_types"] == ["PosixPath"]
    env = from_pool["env"]
    assert env["KERNEL_USERNAME"] == "ada" and env["KERNEL_PROJECT"] == "kerneldock"
    assert "JPY_SESSION_NAME" not in env and "KG_AUTH_TOKEN" not in env


def test_the_pool_refills_and_stays_out_of_sight(api, run_async):
    pool_ready(api, run_async)

    async def scenario():
        assert await api.kernels() == []  # the pool's kernel is not listed
        kernel = await api.request("POST", "/api/kernels", LAB_REQUEST)
        listed = [k["id"] for k in await api.kernels()]
        return kernel["id"], listed

    kernel_id, listed = run_async(scenario())
    assert listed == [kernel_id]
    status = pool_ready(api, run_async)  # refilled in the background
    assert status["size"] == 1 and status["handed_out"] >= 1
    assert [k["id"] for k in run_async(api.kernels())] == [kernel_id]
    run_async(shut_down_all(api))


def test_a_session_gets_a_pooled_kernel_without_the_gateway_environment(api, run_async):
    pool_ready(api, run_async)

    async def scenario():
        session = await api.request("POST", "/api/sessions", {
            "path": "notebooks/deep/analysis.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
        kernel_id = session["kernel"]["id"]
        try:
            origin = {m["id"]: m["pooled"] for m in await api.kernel_modes()}
            return origin[kernel_id], await probe(api, kernel_id)
        finally:
            await shut_down_all(api)

    pooled, state = run_async(scenario())
    assert pooled is True
    assert SECRET not in json.dumps(state["env"]) and "KG_AUTH_TOKEN" not in state["env"]


def test_a_kernel_dev_request_gets_a_fresh_kernel(api, run_async):
    pool_ready(api, run_async)

    async def scenario():
        kernel = await api.start_kernel(env={"KERNEL_KERNELDOCK_DEBUG": "listen"})
        try:
            async with KernelChannel(api, kernel["id"]) as channel:
                await channel.kernel_info()  # up, its debug port written
            return next(m for m in await api.kernel_modes() if m["id"] == kernel["id"])
        finally:
            await shut_down_all(api)

    mode = run_async(scenario())
    assert mode["pooled"] is False and mode["mode"] == "kernel-dev (listen)"


def test_the_kernel_limit_holds_under_concurrent_requests(api, run_async):
    pool_ready(api, run_async)

    async def attempt():
        try:
            return (await api.request("POST", "/api/kernels", LAB_REQUEST))["id"]
        except KerneldockError as error:
            return str(error)

    async def scenario():
        first = await asyncio.gather(*(attempt() for _ in range(3 * MAX_KERNELS)))
        running_after_first = len(await api.kernels())
        # One slot free again: of a second burst exactly one gets in.
        started = [r for r in first if "limit" not in r]
        await shut_down(api, started[0])
        second = await asyncio.gather(*(attempt() for _ in range(MAX_KERNELS)))
        running_after_second = len(await api.kernels())
        await shut_down_all(api)
        return first, running_after_first, second, running_after_second

    first, running_first, second, running_second = run_async(scenario(), timeout=600)
    refused = [r for r in first if "limit" in r]
    assert len(first) - len(refused) == MAX_KERNELS and running_first == MAX_KERNELS, first
    assert all("403" in r and "kernel limit reached: 4 kernels" in r for r in refused), refused
    assert len([r for r in second if "limit" not in r]) == 1 and running_second == MAX_KERNELS, second


# The worker reaches the breakpoint only once the test creates the file "go" in the kernel's
# working directory (the workspace), i.e. after this cell has finished and the kernel is
# idle: a stopped thread stops every thread, a cell still running included.
THREAD_CELL = '''\
import os, threading, time

def work():
    for _ in range(600):  # up to 30 s for the go-ahead
        if os.path.exists("go"):
            break
        time.sleep(0.05)
    answer = 6 * 7  # @bp
    print("worker done", answer)

worker = threading.Thread(target=work)
worker.start()
'''


@pytest.fixture(scope="module")
def culling_api(images):
    env = {"KERNELDOCK_POOL_SIZE": "0", "KERNELDOCK_CULL_IDLE_TIMEOUT": "2",
           "KERNELDOCK_CULL_INTERVAL": "1", "KERNELDOCK_CULL_CONNECTED": "1"}
    allowed = (r"Culling '(idle|starting)' kernel 'python3' \([0-9a-f-]+\) with [01] connections due to \d+ seconds of inactivity",)
    with running_stack(images, extra_env=env, allowed_log_problems=allowed) as stack:
        with Tunnel(stack) as tunnel:
            yield stack, GatewayAPI(tunnel.url, stack.token)


def test_the_culler_spares_a_kernel_stopped_at_a_breakpoint(culling_api, run_async):
    stack, api = culling_api
    line = marked_line(THREAD_CELL)

    async def listed() -> dict[str, dict]:
        return {k["id"]: k for k in await api.kernels()}

    async def poll(predicate, timeout: float, what: str):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (value := await predicate()):
            assert loop.time() < deadline, f"{what}: not within {timeout} s"
            await asyncio.sleep(0.2)
        return value

    async def scenario():
        debugged = (await api.start_kernel())["id"]
        async with KernelChannel(api, debugged) as channel:
            events = channel.subscribe()
            path = await break_in_cell(channel, THREAD_CELL, line)
            result = await channel.execute(THREAD_CELL)
            assert result.status == "ok"
            (stack.workspace / "go").touch()
            stopped = await next_debug_event(events, "stopped", 30)
            thread = stopped["body"]["threadId"]
            frames = (await channel.debug("stackTrace", {"threadId": thread}))["body"]["stackFrames"]
            assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, line)

            # A kernel started after the stop, left alone: once the culler takes it, the
            # debugged kernel has been idle (no cell running) longer than the timeout too.
            bystander = (await api.start_kernel())["id"]
            (kernels,) = await poll(lambda: _without(listed, bystander), 60, "idle kernel culled")
            assert debugged in kernels and kernels[debugged]["execution_state"] == "idle"
            assert f"Not culling kernel {debugged}: a debugger is stopped in it" in stack.logs("gateway")

            # Still held where it stopped, and it finishes once let go.
            frames = (await channel.debug("stackTrace", {"threadId": thread}))["body"]["stackFrames"]
            assert frames[0]["line"] == line
            assert (await channel.debug("continue", {"threadId": thread}))["success"]
            joined = await channel.execute("worker.join(10); print(worker.is_alive())")
            assert joined.stdout == "False\n"
            await channel.debug("disconnect", {"restart": False, "terminateDebuggee": False})
        # Let go and idle, it is culled like any other kernel.
        await poll(lambda: _without(listed, debugged), 60, "debugged kernel culled after continue")

    run_async(scenario())


async def _without(listed, kernel_id: str):
    """``(kernels,)`` once ``kernel_id`` is not among them (a tuple: true even when empty)."""
    kernels = await listed()
    return (kernels,) if kernel_id not in kernels else None
