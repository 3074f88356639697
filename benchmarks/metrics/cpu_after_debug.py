"""Metric 5: a CPU-bound cell (a pure-Python loop, nine timed runs per execution, timed
inside the kernel) on a kernel whose debug session has ended, over the same cell on a kernel
never debugged. The debug session is JupyterLab's: break in a cell, stop, continue,
disconnect. Each round runs the cell on both kernels (which one first alternates) and gives
one ratio of the medians.
"""

from __future__ import annotations

import json
import statistics

from kerneldock.laptop.gateway_api import GatewayAPI

from ..bounded import bounded
from ..cells import CPU_BOUND
from ..client import kernel
from ..debugging import first_stop, leave
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize


async def timings(channel) -> list[float]:
    result = await channel.execute(CPU_BOUND, timeout=120)
    assert result.status == "ok", result.stderr
    return json.loads(result.stdout)


async def ratios(settings: Settings, target: Target) -> list[float]:
    api = GatewayAPI(target.url, target.token)
    async with kernel(api) as (_, never), kernel(api) as (_, debugged):
        await leave(debugged, await first_stop(debugged))
        await timings(never)  # warm-up of both, not counted
        await timings(debugged)
        found = []
        for index in bounded(settings.cpu_rounds, settings.budget, f"{target.name} CPU rounds"):
            first, second = (debugged, never) if index % 2 == 0 else (never, debugged)  # alternate the order
            times = {id(first): statistics.median(await timings(first)),
                     id(second): statistics.median(await timings(second))}
            found.append(times[id(debugged)] / times[id(never)])
        return found


def measure(settings: Settings, targets: list[Target], run) -> list[Figure]:
    found = {}
    for target in targets:
        found[target.name] = run(ratios(settings, target), 600)
        print(f"  {target.name}: x{statistics.median(found[target.name]):.3f}", flush=True)
    return [Figure(5, "cpu_after_debug", "CPU-bound cell after a debug session ÷ never debugged", "x",
                   summarize(found.get("kerneldock", [])), summarize(found.get("stock", [])),
                   Goal("<=", 1.05, "at most 5% slower"),
                   notes=["one ratio per round: median of 9 runs on the debugged kernel over median of 9 on "
                          "the never-debugged one"])]
