"""``scripts/bench [--smoke] [--out DIR] [--only 1,3] [--images-env FILE]``: start the
kerneldock stack and a stock Kernel Gateway side by side, measure every metric, write
``DIR/latest.{json,md,png}`` (default benchmarks/results), tear everything down.

Exit status 0 when every metric produced its figures, 1 when one failed (the others are
still measured and reported), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from support.laptop import connected

from . import ROOT, machine, report, stacks
from .client import run
from .figures import Figure
from .metrics import (cpu_after_debug, dap_latency, first_stop, gateway_start, image_size, kernel_start,
                      many_kernels, memory, roundtrip)
from .settings import FULL, SMOKE
from kerneldock.laptop.gateway_api import GatewayAPI


def read_images(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


class Run:
    """Progress lines, and each metric measured in isolation: a failure is reported and the
    run goes on."""

    def __init__(self, only: set[int] | None):
        self.only = only
        self.began = time.monotonic()
        self.figures: list[Figure] = []
        self.errors: list[dict[str, str]] = []

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:6.1f} s] {message}", flush=True)

    def wanted(self, number: int) -> bool:
        return self.only is None or number in self.only

    def metric(self, number: int, title: str, measure: Callable[[], list[Figure]]) -> None:
        if not self.wanted(number):
            return
        self.say(f"metric {number}: {title}")
        try:
            self.figures += measure()
        except Exception as error:  # noqa: BLE001 - reported in the results, the run goes on
            traceback.print_exc()
            self.errors.append({"metric": str(number), "error": f"{type(error).__name__}: {error}"[:1000]})
            self.say(f"metric {number} failed: {type(error).__name__}: {error}")


def measure_all(settings, images: dict[str, str], progress: Run) -> None:
    with contextlib.ExitStack() as stack:
        progress.say("starting the kerneldock stack and the stock gateway")
        kd = stack.enter_context(stacks.kerneldock(images))
        st = stack.enter_context(stacks.stock(images))
        both = [kd, st]
        progress.metric(2, "gateway answering after docker start", lambda: gateway_start.measure(settings, both))
        if progress.wanted(6):
            run(kernel_start.wait_pool(GatewayAPI(kd.url, kd.token), None))  # memory of a settled gateway
        progress.metric(6, "memory", lambda: memory.measure(settings, both, run))
        progress.say("kerneldock connect (the SSH tunnel through the bastion)")
        user = stack.enter_context(connected(kd.stack, "bench"))
        progress.metric(1, "execute round trip", lambda: roundtrip.measure(settings, both, user.facts["gateway_url"], run))

        def kernel_starts():
            progress.say("starting a second kerneldock stack with the pool off")
            with stacks.kerneldock(images, pool_size=0) as unpooled:
                return kernel_start.measure(settings, kd, unpooled, st, run)
        progress.metric(3, "kernel start", kernel_starts)
        progress.metric(4, "attach to first stop", lambda: first_stop.measure(settings, both, run))
        progress.metric(5, "CPU-bound cell after a debug session", lambda: cpu_after_debug.measure(settings, both, run))
        progress.metric(9, "DAP latency while stopped", lambda: dap_latency.measure(settings, kd, user, st, run))
        progress.metric(8, "many kernels", lambda: many_kernels.measure(settings, both, run))
        progress.say("tearing down")
    progress.metric(7, "kernel image size", lambda: image_size.measure(images))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a short run: few samples, a few seconds per metric")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for latest.json, latest.md and latest.png")
    parser.add_argument("--only", default=None, help="comma-separated metric numbers (default: all)")
    parser.add_argument("--images-env", type=Path, default=ROOT / "build" / "images.env",
                        help="KERNELDOCK_*_IMAGE=... file (written by scripts/build-images)")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    images = read_images(args.images_env)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM tears down like Ctrl-C

    progress = Run({int(n) for n in args.only.split(",")} if args.only else None)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    facts = {"smoke": settings.smoke, "started": started, "machine": machine.describe(),
             "load_start": machine.load(), "images": images,
             "source": machine.source()}
    try:
        measure_all(settings, images, progress)
    except KeyboardInterrupt:
        progress.say("interrupted; everything started was torn down")
        return 130
    except Exception as error:  # noqa: BLE001 - a stack that never came up: still write what there is
        traceback.print_exc()
        progress.errors.append({"metric": "setup", "error": f"{type(error).__name__}: {error}"[:1000]})
    facts.update(duration_s=time.monotonic() - progress.began, load_end=machine.load(), errors=progress.errors,
                 settings=settings.__dict__)
    figures = sorted(progress.figures, key=lambda f: f.metric)
    for path in report.write_all(args.out, facts, figures):
        progress.say(f"wrote {path}")
    print(report.markdown(facts, figures))
    return 1 if progress.errors else 0
