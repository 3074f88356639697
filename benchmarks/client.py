"""What a front-end does, timed: start a kernel the way JupyterLab asks for one, open its
websocket, wait for ``kernel_info_reply``, run a cell, shut the kernel down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel

# JupyterLab (through jupyter_server's gateway client) posts the kernelspec name, the
# notebook's path and the KERNEL_* variables of its environment.
LAB_START_BODY = {
    "name": "python3",
    "path": "Untitled.ipynb",
    "env": {"KERNEL_USERNAME": "bench", "KERNEL_LAUNCH_TIMEOUT": "40"},
}

# The execute_request content JupyterLab sends (KernelChannel.execute sends the same).
EXECUTE_CONTENT = {"silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}


def run(coro, timeout: float = 600):
    """Run one coroutine to completion on a fresh event loop, within ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def start_kernel(api: GatewayAPI) -> str:
    return (await api.request("POST", "/api/kernels", LAB_START_BODY))["id"]


async def start_until_ready(api: GatewayAPI) -> tuple[str, KernelChannel, float]:
    """POST /api/kernels, open the websocket, kernel_info_reply; returns the kernel id, its
    open channel and the seconds it all took."""
    started = time.perf_counter()
    kernel_id = await start_kernel(api)
    channel = await KernelChannel(api, kernel_id).open()
    await channel.kernel_info(timeout=60)
    return kernel_id, channel, time.perf_counter() - started


async def shutdown(api: GatewayAPI, kernel_id: str, channel: KernelChannel | None = None) -> None:
    if channel is not None:
        await channel.close()
    with contextlib.suppress(Exception):
        await api.shutdown_kernel(kernel_id)


@contextlib.asynccontextmanager
async def kernel(api: GatewayAPI) -> AsyncIterator[tuple[str, KernelChannel]]:
    """A started kernel and its websocket for the block; shut down afterwards."""
    kernel_id, channel, _ = await start_until_ready(api)
    try:
        yield kernel_id, channel
    finally:
        await shutdown(api, kernel_id, channel)


async def execute_round_trip(channel: KernelChannel, code: str = "1+1") -> float:
    """Seconds from sending an execute_request to its execute_reply."""
    started = time.perf_counter()
    reply = await channel.request("shell", "execute_request", {"code": code, **EXECUTE_CONTENT}, 30)
    elapsed = time.perf_counter() - started
    assert reply["content"]["status"] == "ok", reply["content"]
    return elapsed
