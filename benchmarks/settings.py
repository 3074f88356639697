"""How many samples each metric takes, and its time budget: the full run and the smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    smoke: bool
    roundtrip_rounds: int        # rounds of round trips per path (direct ZMQ, websocket, tunnel)
    roundtrip_per_round: int     # round trips per path and round
    gateway_starts: int          # docker stop/start cycles per gateway
    kernel_starts: int           # kernel starts per configuration
    first_stops: int             # fresh kernels debugged to their first stop, per gateway
    cpu_rounds: int              # rounds of the CPU-bound cell on each kernel
    memory_kernels: int          # idle kernels whose RSS is read
    many_kernels: int            # kernels started in waves
    wave: int                    # kernels per wave
    dap_stops: int               # later stops while a DAP client is attached
    dap_requests: int            # stackTrace and evaluate requests at each stop
    budget: float                # seconds per metric and gateway before sampling stops early


FULL = Settings(smoke=False, roundtrip_rounds=6, roundtrip_per_round=50, gateway_starts=7,
                kernel_starts=20, first_stops=7, cpu_rounds=7, memory_kernels=5, many_kernels=100,
                wave=10, dap_stops=20, dap_requests=5, budget=400)
SMOKE = Settings(smoke=True, roundtrip_rounds=2, roundtrip_per_round=10, gateway_starts=1,
                 kernel_starts=3, first_stops=1, cpu_rounds=1, memory_kernels=2, many_kernels=6,
                 wave=3, dap_stops=2, dap_requests=3, budget=25)
