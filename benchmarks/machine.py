"""The machine a run measured: CPUs, memory, kernel, Docker, and how busy it was."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any


def _first(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _docker_version() -> str | None:
    result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip() or None


def source() -> dict[str, Any]:
    """The commit measured, and whether the work tree had changes on top of it."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, check=False)
        return result.stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "changed": bool(git("status", "--porcelain", "--untracked-files=no"))}


def load() -> dict[str, Any]:
    """Load averages and how many containers run (other people's included): the noise."""
    result = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True, timeout=30, check=False)
    return {"loadavg": list(os.getloadavg()), "running_containers": len(result.stdout.split())}


def describe() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory_gb": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(),
        "os": platform.platform(),
        "docker": _docker_version(),
        "python": platform.python_version(),
    }
