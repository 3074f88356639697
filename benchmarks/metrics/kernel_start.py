"""Metric 3: kernel start, ``POST /api/kernels`` (JupyterLab's request: name, path, KERNEL_*
variables) to ``kernel_info_reply`` over the new kernel's websocket.

Three setups, sample by sample in turn: kerneldock with its kernel pool (before each sample
``GET /api/kerneldock/pool`` is polled until a kernel is ready; after it, until the pool is
full again: the refill time, counted from the start request), kerneldock with the pool off
(``KERNELDOCK_POOL_SIZE=0``), and stock. When the gateway has no pool endpoint (404) the
pooled figure is reported as unavailable.
"""

from __future__ import annotations

import asyncio
import time

from kerneldock.common.errors import GatewayError
from kerneldock.laptop.gateway_api import GatewayAPI

from ..bounded import bounded
from ..client import shutdown, start_until_ready
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize

POOL_TIMEOUT = 90


async def pool_status(api: GatewayAPI) -> dict | None:
    """The pool's state, or None when the gateway has no pool endpoint."""
    try:
        return await api.pool()
    except GatewayError as error:
        if "answered 404" in str(error):
            return None
        raise


async def wait_pool(api: GatewayAPI, ready: int | None) -> dict:
    """Poll (every 20 ms, at most POOL_TIMEOUT s) until ``ready`` kernels (None: all) are ready."""
    deadline = time.monotonic() + POOL_TIMEOUT
    while True:
        status = await pool_status(api)
        if status is None or status["ready"] >= (status["size"] if ready is None else ready):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"kernel pool not refilled within {POOL_TIMEOUT} s: {status}")
        await asyncio.sleep(0.02)


async def sample(target: Target, pooled: bool) -> dict:
    api = GatewayAPI(target.url, target.token)
    if pooled:
        await wait_pool(api, 1)
    started = time.perf_counter()
    kernel_id, channel, elapsed = await start_until_ready(api)
    result = {"start": elapsed}
    try:
        if pooled:
            await wait_pool(api, None)
            result["refill"] = time.perf_counter() - started
            modes = await api.kernel_modes()
            result["pooled"] = any(k["id"] == kernel_id and k.get("pooled") for k in modes)
    finally:
        await shutdown(api, kernel_id, channel)
    return result


def measure(settings: Settings, pooled: Target, unpooled: Target | None, stock: Target, run) -> list[Figure]:
    api = GatewayAPI(pooled.url, pooled.token)
    status = run(wait_pool(api, None))
    setups = [("nopool", unpooled, False), ("stock", stock, False)]
    if status is not None and status["size"] > 0:
        setups.insert(0, ("pooled", pooled, True))
    samples: dict[str, list[dict]] = {name: [] for name, target, _ in setups if target}
    for index in bounded(settings.kernel_starts, settings.budget, "kernel starts"):
        for name, target, is_pooled in setups:
            if target:
                samples[name].append(run(sample(target, is_pooled), 300))
        if index % 5 == 4 or index == settings.kernel_starts - 1:
            print(f"  {index + 1} starts each: " + ", ".join(
                f"{n} {s[-1]['start']:.2f} s" for n, s in samples.items()), flush=True)
    starts = {name: summarize([s["start"] for s in values]) for name, values in samples.items()}
    stock_start = starts.get("stock")
    pooled_notes = ([f"{sum(s['pooled'] for s in samples['pooled'])} of {len(samples['pooled'])} "
                     f"starts were served from the pool (pool size {status['size']})"]
                    if "pooled" in samples else
                    ["pool unavailable: GET /api/kerneldock/pool answered 404" if status is None
                     else "pool unavailable: its size is 0"])
    return [
        Figure(3, "kernel_start_pool", "kernel start to kernel_info_reply, with the pool", "s",
               starts.get("pooled"), stock_start, Goal("<=", 0.25, "at most 0.25 s median"),
               notes=pooled_notes),
        Figure(3, "kernel_start_nopool", "kernel start to kernel_info_reply, pool off", "s",
               starts.get("nopool"), stock_start, notes=["KERNELDOCK_POOL_SIZE=0"]),
        Figure(3, "pool_refill", "pool full again after a hand-out (from the start request)", "s",
               summarize([s["refill"] for s in samples.get("pooled", [])]), None, stock_label="stock (no pool)"),
    ]
