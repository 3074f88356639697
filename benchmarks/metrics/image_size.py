"""Metric 7: the kernel image's size (``docker image inspect``) next to the floor, the base
image plus a virtualenv with only ipykernel and debugpy (and their dependencies), installed
from the same wheel folder the images use (``build/wheels``, ``--no-index``: no registry or
index is needed). The base is whichever local image the kernel image was built on (its
layers start the kernel image's): python:3.13-slim where a registry is reachable, otherwise
scripts/make-base-image's Debian. The floor image is built once per base and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import ROOT
from ..docker import docker
from ..figures import Figure, Goal
from ..stats import summarize

MB = 1e6
FLOOR_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS install
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/floor && \\
    /opt/floor/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \\
        --find-links /tmp/wheels -c /tmp/wheels/constraints.txt ipykernel debugpy
FROM ${BASE_IMAGE}
COPY --from=install /opt/floor /opt/floor
"""


def inspect(image: str) -> dict | None:
    result = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def base_of(kernel: dict) -> str | None:
    """The local image whose layers the kernel image's layers start with (the longest)."""
    layers = kernel["RootFS"]["Layers"]
    names = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    candidates = [n for n in names if n.startswith(("python:3.13", "kerneldock/base:"))]
    best, best_length = None, 0
    for name in candidates:
        info = inspect(name)
        theirs = info["RootFS"]["Layers"] if info else []
        if theirs and layers[:len(theirs)] == theirs and len(theirs) > best_length:
            best, best_length = name, len(theirs)
    return best


def floor_image(base: str) -> str:
    wheels = ROOT / "build" / "wheels"
    if not list(wheels.glob("*.whl")):
        subprocess.run([str(ROOT / "scripts" / "build-wheels")], check=True, timeout=900)
    constraints = (ROOT / "images" / "constraints.txt").read_text()
    tag = "kdbench/floor:" + hashlib.sha256(
        (inspect(base)["Id"] + constraints + FLOOR_DOCKERFILE).encode()).hexdigest()[:12]
    if inspect(tag) is not None:
        return tag
    print(f"  building the floor image {tag} (once per base image)", flush=True)
    context = Path(tempfile.mkdtemp(prefix="kdbench-floor-"))
    try:
        (context / "Dockerfile").write_text(FLOOR_DOCKERFILE)
        (context / "wheels").mkdir()
        for wheel in [*wheels.glob("*.whl"), ROOT / "images" / "constraints.txt"]:
            try:
                os.link(wheel, context / "wheels" / wheel.name)
            except OSError:
                shutil.copy(wheel, context / "wheels" / wheel.name)
        docker("build", "--quiet", "--tag", tag, "--build-arg", f"BASE_IMAGE={base}", str(context), timeout=900)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag


def measure(images: dict[str, str]) -> list[Figure]:
    kernel = inspect(images["KERNELDOCK_KERNEL_IMAGE"])
    base = base_of(kernel)
    notes, floor = [], None
    if base is None:
        notes.append("floor unavailable: no local image found that the kernel image was built on")
    else:
        floor = inspect(floor_image(base))
        notes.append(f"floor: {base} ({inspect(base)['Size'] / MB:.0f} MB) + ipykernel + debugpy from build/wheels")
    one = lambda info: summarize([info["Size"]], 1 / MB) if info else None  # noqa: E731
    print(f"  kernel image {kernel['Size'] / MB:.0f} MB" + (f", floor {floor['Size'] / MB:.0f} MB" if floor else ""),
          flush=True)
    return [Figure(7, "kernel_image", "kernel image size", "MB", one(kernel), one(floor),
                   Goal("<=", 300, "at most 300 MB"), stock_label="floor", notes=notes,
                   extra={"base": base, "base_mb": inspect(base)["Size"] / MB if base else None})]
