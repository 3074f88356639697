"""Session fixtures: the images (built once, reused when unchanged) and helpers."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--images-env", default=None,
                     help="a KERNELDOCK_*_IMAGE=... file; skips building the images")


@pytest.fixture(scope="session")
def images(request) -> dict[str, str]:
    """Image names of the kernel, gateway and bastion; builds them unless given."""
    env_file = request.config.getoption("--images-env")
    if env_file is None:
        started = time.monotonic()
        subprocess.run([str(ROOT / "scripts" / "build-images"), "--quiet"], check=True, timeout=1800)
        print(f"\nimages ready in {time.monotonic() - started:.0f} s")
        env_file = ROOT / "build" / "images.env"
    pairs = (line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture
def run_async():
    """Run a coroutine to completion on a fresh event loop (the tests are synchronous)."""
    def runner(coro, timeout: float = 300):
        return asyncio.run(asyncio.wait_for(coro, timeout))
    return runner
