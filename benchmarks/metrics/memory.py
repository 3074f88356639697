"""Metric 6: resident memory (VmRSS from /proc, read in the gateway container with
``docker exec``): the gateway process idle (no user kernels; kerneldock's pool kernels are
processes of their own), idle kernels (each has run one small cell), and after a debug
session the debug adapter (debugpy's separate process) and the debugged kernel.
"""

from __future__ import annotations

import contextlib
import re

from kerneldock.laptop.gateway_api import GatewayAPI

from ..client import kernel
from ..debugging import first_stop, leave
from ..docker import run_script
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize

MB = 1e6
GATEWAY = re.compile(r"kerneldock\.gateway|kernelgateway")
ADAPTER = re.compile(r"debugpy[/.]adapter")


def processes(target: Target) -> list[dict]:
    return run_script(target.container, "proc_rss.py")


def gateway_rss(target: Target) -> int:
    found = [p["rss"] for p in processes(target)
             if GATEWAY.search(p["cmdline"]) and not p["cmdline"].startswith("tini") and "healthcheck" not in p["cmdline"]]
    assert len(found) == 1, f"expected one gateway process in {target.name}, found {len(found)}"
    return found[0]


async def kernels_rss(settings: Settings, target: Target) -> dict[str, list[int]]:
    api = GatewayAPI(target.url, target.token)
    async with contextlib.AsyncExitStack() as stack:
        pids = []
        channels = []
        for _ in range(settings.memory_kernels):
            _, channel = await stack.enter_async_context(kernel(api))
            channels.append(channel)
            pids.append(int((await channel.execute("import os; print(os.getpid())")).stdout))
        rss = {p["pid"]: p["rss"] for p in processes(target)}
        idle = [rss[pid] for pid in pids]
        await leave(channels[0], await first_stop(channels[0]))
        after = processes(target)
        adapters = [p["rss"] for p in after if ADAPTER.search(p["cmdline"])]
        debugged = [p["rss"] for p in after if p["pid"] == pids[0]]
        return {"idle": idle, "adapter": adapters, "debugged": debugged}


def measure(settings: Settings, targets: list[Target], run) -> list[Figure]:
    gateway, kernels = {}, {}
    for target in targets:
        gateway[target.name] = summarize([gateway_rss(target) for _ in range(3)], 1 / MB)
        kernels[target.name] = run(kernels_rss(settings, target), 300)
        print(f"  {target.name}: gateway {gateway[target.name].median:.0f} MB, idle kernel "
              f"{summarize(kernels[target.name]['idle'], 1 / MB).median:.0f} MB", flush=True)
    get = lambda name, key: summarize(kernels.get(name, {}).get(key, []), 1 / MB)  # noqa: E731
    return [
        Figure(6, "gateway_rss", "gateway RSS, idle", "MB", gateway.get("kerneldock"), gateway.get("stock"),
               Goal("<=", 100, "at most 100 MB"), notes=["kerneldock: with its pool kernels started (separate processes)"]),
        Figure(6, "kernel_rss", "idle kernel RSS", "MB", get("kerneldock", "idle"), get("stock", "idle"),
               Goal("<=", 60, "at most 60 MB")),
        Figure(6, "adapter_rss", "debug adapter RSS (after a debug session)", "MB",
               get("kerneldock", "adapter"), get("stock", "adapter")),
        Figure(6, "debugged_kernel_rss", "kernel RSS after a debug session", "MB",
               get("kerneldock", "debugged"), get("stock", "debugged")),
    ]
