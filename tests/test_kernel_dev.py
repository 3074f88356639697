"""Kernel-developer mode for real: the example SlowKernel (examples/kernels, mounted into the
stack) started in ``wait`` mode blocks until a debugger attaches through the tunnel; a DAP
client sending VS Code's payloads stops at the marked line of the kernel's ``__init__``,
then in its ``do_execute``; an interrupt during the kernel's own async work is handled.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.dap_client import DapClient
from support.laptop import connected
from support.marks import marked_line
from support.net import free_port
from support.stack import ROOT, running_stack
from support.wait import wait_until

SOURCE_ROOT = ROOT / "examples" / "kernels" / "src"
KERNEL_PY = SOURCE_ROOT / "slow_kernel" / "kernel.py"
REMOTE_ROOT = "/opt/kerneldock/user/src"


@pytest.fixture(scope="module")
def stack(images):
    with running_stack(images) as stack:
        yield stack


@pytest.fixture(scope="module")
def user(stack):
    with connected(stack, "kerneldev") as user:
        yield user


@pytest.fixture
def api(user, stack):
    return GatewayAPI(user.facts["gateway_url"], stack.token)


def test_example_kernel_is_offered_with_the_debugger(api, run_async):
    specs = run_async(api.kernelspecs())["kernelspecs"]
    assert specs["slow"]["spec"]["metadata"]["debugger"] is True
    assert specs["python3-kernel-dev"]["spec"]["metadata"]["debugger"] is False


def test_kernel_dev_wait_mode_stops_in_init_then_do_execute(api, user, stack, run_async):
    source_text = KERNEL_PY.read_text()
    bp_init, bp_execute = marked_line(source_text, "@bp-init"), marked_line(source_text, "@bp-execute")
    kernel = run_async(api.start_kernel("slow", env={"KERNEL_KERNELDOCK_DEBUG": "wait"}))
    try:
        def announced():
            modes = run_async(api.request("GET", "/api/kerneldock/kernels"))
            return next(m for m in modes if m["id"] == kernel["id"] and m["debug_endpoint"])
        entry = wait_until(announced, 30, "kernel-dev endpoint announced")
        assert entry["mode"] == "kernel-dev (wait)" and entry["debug_endpoint"].startswith("gateway:57")

        port = free_port()
        attached = user.kerneldock("attach", "--kernel-dev", kernel["id"][:8], "--port", str(port),
                                   "--source", f"{SOURCE_ROOT}={REMOTE_ROOT}")
        assert attached.returncode == 0, attached.stderr
        launch = json.loads((user.cwd / ".vscode" / "launch.json").read_text())
        dev = next(c for c in launch["configurations"] if c["name"].startswith("kerneldock: kernel-dev"))
        assert dev["justMyCode"] is False and dev["connect"]["port"] == port
        assert dev["pathMappings"] == [{"localRoot": str(SOURCE_ROOT), "remoteRoot": REMOTE_ROOT}]

        editor = DapClient(port)
        try:
            editor.vscode_attach(port, dev["pathMappings"], {str(KERNEL_PY): [bp_init, bp_execute]})
            thread, frames = editor.stopped_frames()
            assert (frames[0]["source"]["path"], frames[0]["line"], frames[0]["name"]) == (str(KERNEL_PY), bp_init, "__init__")
            editor.ok("continue", {"threadId": thread})

            # The kernel finished starting once the debugger let __init__ go on.
            loop = asyncio.new_event_loop()
            try:
                channel, info = loop.run_until_complete(asyncio.wait_for(open_channel(api, kernel["id"]), 90))
                assert info["implementation"] == "slow_kernel"
                assert "debugger" not in info.get("supported_features", [])  # JupyterLab is told plainly
                execution = asyncio.ensure_future(channel.execute("6 * 7", timeout=60), loop=loop)
                thread, frames = loop.run_until_complete(asyncio.to_thread(editor.stopped_frames))
                assert (frames[0]["source"]["path"], frames[0]["line"], frames[0]["name"]) == (str(KERNEL_PY), bp_execute, "do_execute")
                assert editor.locals_of(frames[0]["id"])["code"] == "'6 * 7'"
                editor.set_breakpoints(str(KERNEL_PY), [])
                editor.ok("continue", {"threadId": thread})
                result = loop.run_until_complete(execution)
                assert result.status == "ok" and result.results[0]["text/plain"] == "42"

                # The kernel's own async work, interrupted through the gateway.
                output = channel.subscribe()
                slow = asyncio.ensure_future(channel.execute("%slow 30 olleh", timeout=60), loop=loop)
                loop.run_until_complete(asyncio.wait_for(stream_text(output, "thinking"), 30))
                loop.run_until_complete(api.request("POST", f"/api/kernels/{kernel['id']}/interrupt"))
                interrupted = loop.run_until_complete(asyncio.wait_for(slow, 10))
                assert interrupted.stdout == "thinking for 30 s\ninterrupted\n"
                answered = loop.run_until_complete(channel.execute("%slow 0.1 olleh", timeout=30))
                assert answered.stdout == "thinking for 0.1 s\nhello\n"
                loop.run_until_complete(channel.close())
            finally:
                loop.close()
        finally:
            editor.close()
    finally:
        run_async(api.shutdown_kernel(kernel["id"]))


async def stream_text(queue: asyncio.Queue, text: str) -> None:
    """Until a stream message containing ``text`` arrives on the subscriber queue."""
    while True:
        message = await queue.get()
        assert message is not None, "kernel websocket closed"
        if message["header"]["msg_type"] == "stream" and text in message["content"]["text"]:
            return


async def open_channel(api: GatewayAPI, kernel_id: str):
    channel = await KernelChannel(api, kernel_id).open()
    return channel, await channel.kernel_info(timeout=60)


def test_kernel_dev_attach_errors_are_named(api, user, run_async):
    result = user.kerneldock("attach", "--kernel-dev", "no-such-kernel", "--port", str(free_port()))
    assert result.returncode == 1 and "kernel: no kernel 'no-such-kernel'" in result.stderr
    plain = run_async(api.start_kernel("python3"))
    try:
        refused = user.kerneldock("attach", "--kernel-dev", plain["id"], "--port", str(free_port()))
        assert refused.returncode == 1
        assert f"kernel {plain['id'][:8]} is not in kernel-dev mode" in refused.stderr
    finally:
        run_async(api.shutdown_kernel(plain["id"]))
