"""Metric 1: ``execute_request`` of ``1+1`` to its ``execute_reply``, over the gateway
websocket vs the direct ZMQ round trip to the same kernel (jupyter_client inside the gateway
container), and through kerneldock's SSH tunnel vs without it.

Rounds alternate between the gateways and the paths so that load from elsewhere on the
machine falls on all of them alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel

from ..bounded import bounded
from ..client import EXECUTE_CONTENT, execute_round_trip, shutdown, start_until_ready
from ..docker import run_script
from ..figures import Figure, Goal
from ..settings import Settings
from ..stacks import Target
from ..stats import summarize

WARM_UP = 5


async def _measure(settings: Settings, targets: list[Target], tunnel_url: str | None) -> dict:
    samples = {t.name: {"ws": [], "zmq": [], "tunnel": [], "ratios": [], "deltas": []} for t in targets}
    opened = []
    try:
        paths = {}
        for target in targets:
            api = GatewayAPI(target.url, target.token)
            kernel_id, channel, _ = await start_until_ready(api)
            opened.append((api, kernel_id, channel))
            paths[target.name] = {"kernel": kernel_id, "ws": channel}
            if target.name == "kerneldock" and tunnel_url:
                tunnel = await KernelChannel(GatewayAPI(tunnel_url, target.token), kernel_id).open()
                opened.append((None, None, tunnel))
                paths[target.name]["tunnel"] = tunnel
            for channel in (paths[target.name]["ws"], paths[target.name].get("tunnel")):
                for _ in range(WARM_UP if channel else 0):
                    await execute_round_trip(channel)
        for round_ in bounded(settings.roundtrip_rounds, settings.budget, "round trips"):
            for target in targets:
                mine, path = samples[target.name], paths[target.name]
                ws, tunnel = [], []
                for _ in range(settings.roundtrip_per_round):
                    ws.append(await execute_round_trip(path["ws"]))
                    if "tunnel" in path:
                        tunnel.append(await execute_round_trip(path["tunnel"]))
                zmq = await asyncio.to_thread(run_script, target.container, "zmq_roundtrip.py", path["kernel"],
                                              str(settings.roundtrip_per_round), json.dumps(EXECUTE_CONTENT))
                mine["ws"] += ws
                mine["tunnel"] += tunnel
                mine["zmq"] += zmq
                mine["ratios"].append(statistics.median(ws) / statistics.median(zmq))
                if tunnel:
                    mine["deltas"].append(statistics.median(tunnel) - statistics.median(ws))
            print(f"  round {round_ + 1}: " + ", ".join(
                f"{name} ws {statistics.median(s['ws']) * 1e3:.2f} ms / zmq {statistics.median(s['zmq']) * 1e3:.2f} ms"
                for name, s in samples.items()), flush=True)
    finally:
        for api, kernel_id, channel in reversed(opened):
            if api is None:
                await channel.close()
            else:
                await shutdown(api, kernel_id, channel)
    return samples


def measure(settings: Settings, targets: list[Target], tunnel_url: str | None, run) -> list[Figure]:
    s = run(_measure(settings, targets, tunnel_url))
    kd, st = s.get("kerneldock", {}), s.get("stock", {})
    get = lambda d, k, scale=1e3: summarize(d.get(k, []), scale)  # noqa: E731
    return [
        Figure(1, "roundtrip_ratio", "execute round trip, websocket ÷ direct ZMQ", "x",
               get(kd, "ratios", 1), get(st, "ratios", 1),
               Goal("<=", 1.2, "at most 1.2x the direct ZMQ round trip"),
               notes=["per round: median websocket round trip over median ZMQ round trip to the same kernel"]),
        Figure(1, "roundtrip_ws", "execute round trip over the websocket", "ms", get(kd, "ws"), get(st, "ws")),
        Figure(1, "roundtrip_zmq", "execute round trip, direct ZMQ (in the container)", "ms",
               get(kd, "zmq"), get(st, "zmq"),
               notes=["kerneldock kernels use ipc sockets, stock ones TCP on 127.0.0.1"]),
        Figure(1, "roundtrip_tunnel", "execute round trip through kerneldock connect's SSH tunnel", "ms",
               get(kd, "tunnel"), None, stock_label="stock (no tunnel)"),
        Figure(1, "tunnel_cost", "SSH tunnel cost on the round trip", "ms", get(kd, "deltas"), None,
               Goal("<=", 1.0, "the tunnel adds at most 1 ms"), stock_label="stock (no tunnel)",
               notes=["per round: median through the tunnel minus median without it, same kernel"]),
    ]
