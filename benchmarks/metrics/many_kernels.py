"""Metric 8: many kernels. Start N kernels in waves (each wave's starts concurrent, JupyterLab's
request, each to ``kernel_info_reply`` over its websocket, which stays open), none may fail;
starts per second over all waves, and the gateway process's RSS growth per kernel. Then
shut them all down, wave by wave.
"""

from __future__ import annotations

import asyncio
import time

from kerneldock.laptop.gateway_api import GatewayAPI

from ..client import shutdown, start_until_ready
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize
from .memory import MB, gateway_rss


async def waves(settings: Settings, target: Target) -> dict:
    api = GatewayAPI(target.url, target.token, timeout=120)
    before = await asyncio.to_thread(gateway_rss, target)
    started: list[tuple[str, object]] = []
    failures: list[str] = []
    wave_times: list[float] = []
    wave_rates: list[float] = []
    deadline = time.monotonic() + settings.budget
    try:
        while len(started) + len(failures) < settings.many_kernels and time.monotonic() < deadline:
            size = min(settings.wave, settings.many_kernels - len(started) - len(failures))
            began = time.perf_counter()
            results = await asyncio.gather(*(start_until_ready(api) for _ in range(size)), return_exceptions=True)
            wave_times.append(time.perf_counter() - began)
            wave_rates.append(size / wave_times[-1])
            for result in results:
                if isinstance(result, BaseException):
                    failures.append(f"{type(result).__name__}: {result}")
                else:
                    started.append((result[0], result[1]))
            print(f"  {target.name}: {len(started)} started, {len(failures)} failed "
                  f"(wave of {size} in {wave_times[-1]:.1f} s)", flush=True)
        after = await asyncio.to_thread(gateway_rss, target)
    finally:
        began = time.perf_counter()
        for index in range(0, len(started), settings.wave):
            await asyncio.gather(*(shutdown(api, k, c) for k, c in started[index:index + settings.wave]))
        stopped = time.perf_counter() - began
    return {"started": len(started), "failures": failures, "seconds": sum(wave_times),
            "wave_rates": wave_rates,
            "per_kernel": (after - before) / max(1, len(started)), "shutdown": stopped}


def measure(settings: Settings, targets: list[Target], run) -> list[Figure]:
    found = {target.name: run(waves(settings, target), settings.budget + 600) for target in targets}
    rate = {n: summarize(f["wave_rates"]) for n, f in found.items()}
    notes = [f"{n}: {f['started']} of {settings.many_kernels} started in waves of {settings.wave} "
             f"({f['started'] / max(f['seconds'], 1e-9):.2f} starts/s overall; the figure is per wave), "
             f"{len(f['failures'])} failed, all shut down in {f['shutdown']:.1f} s"
             + (f"; first failure: {f['failures'][0][:200]}" if f["failures"] else "")
             for n, f in found.items()]
    get = lambda n, key, scale=1.0: summarize([found[n][key] * scale]) if n in found else None  # noqa: E731
    failed = {n: summarize([float(len(f["failures"]) + settings.many_kernels - f["started"] - len(f["failures"]))])
              for n, f in found.items()}
    return [
        Figure(8, "many_kernels_rate", f"{settings.many_kernels} kernel starts in waves: starts per second",
               "1/s", rate.get("kerneldock"), rate.get("stock"), notes=notes,
               extra={n: {k: v for k, v in f.items() if k != "failures"} for n, f in found.items()}),
        Figure(8, "many_kernels_failed", f"{settings.many_kernels} kernel starts: failed or not reached", "",
               failed.get("kerneldock"), failed.get("stock"), Goal("==", 0, "none failing")),
        Figure(8, "many_kernels_gateway_mb", "gateway RSS growth per kernel", "MB",
               get("kerneldock", "per_kernel", 1 / MB), get("stock", "per_kernel", 1 / MB)),
    ]
