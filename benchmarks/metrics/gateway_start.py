"""Metric 2: the gateway healthy after its container starts: from ``docker start`` of the
stopped gateway container to the first authenticated ``GET /api/kernelspecs`` answering 200
(polled every 10 ms from this machine at the container's address).

Restarting drops every kernel, so this runs before the other metrics.
"""

from __future__ import annotations

import time

from support.wait import wait_until

from ..bounded import bounded
from ..docker import container_ip, docker
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import GATEWAY_PORT, Target
from ..stats import summarize


def start_once(target: Target) -> float:
    docker("stop", "--time", "10", target.container)
    started = time.perf_counter()
    docker("start", target.container)
    url = f"http://{container_ip(target.container)}:{GATEWAY_PORT}"
    wait_until(lambda: target.answers(url, timeout=1), 120, f"{target.name} gateway answering", interval=0.01)
    return time.perf_counter() - started


def measure(settings: Settings, targets: list[Target]) -> list[Figure]:
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    for index in bounded(settings.gateway_starts, settings.budget, "gateway starts"):
        for target in targets:
            samples[target.name].append(start_once(target))
        print(f"  start {index + 1}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in samples.items()), flush=True)
    return [Figure(2, "gateway_start", "gateway answering after docker start", "s",
                   summarize(samples.get("kerneldock", [])), summarize(samples.get("stock", [])),
                   Goal("<=", 1.5, "at most 1.5 s"))]
