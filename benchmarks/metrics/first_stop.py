"""Metric 4: from a debugger's attach to the first ``stopped`` at a breakpoint, on a fresh
kernel (started and idle, never debugged): JupyterLab's sequence over the gateway websocket,
``initialize``, ``attach``, ``dumpCell`` + ``setBreakpoints``, ``configurationDone``, then the
cell's ``execute_request`` until the ``stopped`` debug event.
"""

from __future__ import annotations

from kerneldock.laptop.gateway_api import GatewayAPI

from ..bounded import bounded
from ..client import execute_round_trip, kernel
from ..debugging import first_stop, leave
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize


async def sample(target: Target) -> tuple[float, float]:
    api = GatewayAPI(target.url, target.token)
    async with kernel(api) as (_, channel):
        await execute_round_trip(channel)  # the kernel has run a cell, as a notebook's has
        stop = await first_stop(channel)
        await leave(channel, stop)
    return stop.stopped, stop.configured


def measure(settings: Settings, targets: list[Target], run) -> list[Figure]:
    samples: dict[str, list[tuple[float, float]]] = {t.name: [] for t in targets}
    for index in bounded(settings.first_stops, settings.budget, "first stops"):
        for target in targets:
            samples[target.name].append(run(sample(target), 180))
        print(f"  session {index + 1}: " + ", ".join(f"{n} {s[-1][0]:.2f} s" for n, s in samples.items()),
              flush=True)
    total = {n: summarize([s[0] for s in v]) for n, v in samples.items()}
    configured = {n: summarize([s[1] for s in v]) for n, v in samples.items()}
    return [
        Figure(4, "first_stop", "debugger attach to the first stopped", "s",
               total.get("kerneldock"), total.get("stock"), Goal("<=", 0.5, "at most 0.5 s")),
        Figure(4, "first_stop_configured", "of which initialize to configurationDone answered", "s",
               configured.get("kerneldock"), configured.get("stock")),
    ]
