"""Docker, as the benchmarks use it: commands with timeouts, a container's address, and the
small scripts of ``benchmarks/incontainer`` run inside a container."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

INCONTAINER = Path(__file__).resolve().parent / "incontainer"


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {result.stderr.strip()[-500:]}")
    return result.stdout


def container_ip(container: str) -> str:
    """The container's address on its (first) network; the host reaches it directly."""
    out = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container)
    return out.split()[0]


def run_script(container: str, script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``benchmarks/incontainer/<script>`` with the container's Python (as the image's
    user, like the gateway) and return the JSON it prints last."""
    source = (INCONTAINER / script).read_text()
    result = subprocess.run(["docker", "exec", "-i", container, "timeout", str(int(timeout)), "python", "-", *args],
                            input=source, capture_output=True, text=True, timeout=timeout + 10)
    if result.returncode != 0:
        raise RuntimeError(f"{script} in {container[:12]} exited {result.returncode}: {result.stderr.strip()[-800:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
