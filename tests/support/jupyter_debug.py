"""The Jupyter debug protocol as JupyterLab speaks it, over a kernel's websocket."""

from __future__ import annotations

import asyncio

from kerneldock.laptop.kernel_channel import KernelChannel

LAB_INITIALIZE = {
    "clientID": "jupyterlab", "clientName": "JupyterLab", "adapterID": "python",
    "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True,
    "supportsVariableType": True, "supportsVariablePaging": True,
    "supportsRunInTerminalRequest": True, "locale": "en"}


async def break_in_cell(channel: KernelChannel, code: str, line: int) -> str:
    """Start the kernel's debugger, set a breakpoint at ``line`` of the cell ``code``, finish
    the configuration; returns the cell's source path."""
    init = await channel.debug("initialize", LAB_INITIALIZE)
    assert init["success"], init
    attach = await channel.debug("attach", {})
    assert attach["success"], attach
    path = (await channel.debug("dumpCell", {"code": code}))["body"]["sourcePath"]
    bps = await channel.debug("setBreakpoints", {
        "source": {"path": path}, "breakpoints": [{"line": line}], "sourceModified": False})
    assert bps["body"]["breakpoints"][0]["verified"], bps
    assert (await channel.debug("configurationDone", {}))["success"]
    return path


async def next_debug_event(queue: asyncio.Queue, event: str, timeout: float) -> dict:
    """The next ``debug_event`` named ``event`` from a :meth:`KernelChannel.subscribe` queue."""
    async def find():
        while True:
            message = await queue.get()
            assert message is not None, "kernel websocket closed"
            if message["header"]["msg_type"] == "debug_event" and message["content"].get("event") == event:
                return message["content"]
    return await asyncio.wait_for(find(), timeout)
