"""Kernels started ahead of demand, handed out by ``POST /api/kernels``.

Starting a kernel is mostly Python importing IPython, ipykernel and their dependencies
(about 0.8 s on a 2-core host). The pool keeps ``size`` kernels of one kernelspec started
and answering, hidden from the kernel list, and the gateway's kernel manager hands one out
when a start request could have been served by a fresh kernel of that spec; a new one is
started in the background to take its place.

A pooled kernel was started with the environment a request without variables gets (PATH
and the gateway's whitelisted variables) in the gateway's working directory. When it is
handed out it is made into exactly what a fresh start for that request would have given:
one silent ``execute_request`` on its shell channel sets the request's variables in
``os.environ`` (the C environment too, so subprocesses inherit them), removes any the
request would not have had, changes to the request's working directory and puts that where
the start directory was on ``sys.path`` (``python -m`` adds it) and in IPython's directory
history. Only then does the request get its reply, so the client's first message already
sees that state. Requests this cannot cover get a fresh
kernel: another kernelspec, a spec with an ``env`` block (its substitutions depend on the
request), a variable read while the kernel starts (:data:`kernelenv.READ_AT_START`), a
kernel id chosen by the client, or an empty pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .kernelenv import READ_AT_START, env_changes
from .readiness import answering_client

# Set or removed by the launch itself whatever the request says (Kernel Gateway's launcher
# and jupyter_client), hence the same in a pooled and a fresh kernel: never part of the fix-up.
SET_BY_LAUNCH = frozenset({"KERNEL_GATEWAY", "KG_AUTH_TOKEN", "PYTHONEXECUTABLE", "JPY_PARENT_PID"})
READY_TIMEOUT = 60.0
ADOPT_TIMEOUT = 10.0
# Consecutive failed starts after which the pool stops refilling until a kernel is taken.
MAX_FAILURES = 3

StartKernel = Callable[..., Awaitable[str]]


@dataclass
class PooledKernel:
    kernel_id: str
    client: Any  # jupyter_client AsyncKernelClient, shell channel only
    env: dict[str, str]


def fixup_code(to_set: dict[str, str], to_remove: list[str], cwd: str) -> str:
    """One expression statement run silently in the kernel; it leaves no name behind in the
    user's namespace and no entry in the history."""
    return (
        "(lambda os, sys, Path, ip, started_in: (os.environ.update(" + repr(to_set) + "), "
        "[os.environ.pop(k, None) for k in " + repr(to_remove) + "], "
        "os.chdir(" + repr(cwd) + "), "
        # `python -m` put the directory the kernel started in on sys.path.
        "started_in in sys.path and sys.path.__setitem__(sys.path.index(started_in), os.getcwd()), "
        # IPython's directory history (_dh) starts as [Path.cwd()] of the kernel's start.
        "ip.history_manager.dir_hist.__setitem__(slice(None), [Path.cwd()])))"
        "(__import__('os'), __import__('sys'), __import__('pathlib').Path, get_ipython(), "
        "__import__('os').getcwd())"
    )


class KernelPool:
    """Owned by the gateway's kernel manager; ``fill`` is called by the personality once
    the gateway is up and again after every hand-out; ``close`` at shutdown."""

    def __init__(self, *, kernel_name: str, size: int, base_env: Callable[[], dict[str, str]],
                 start: StartKernel, stop: Callable[[str], Awaitable[None]],
                 kernel_manager: Callable[[str], Any], log: logging.Logger):
        self.kernel_name = kernel_name
        self.size = max(0, size)
        self._base_env = base_env
        self._start = start
        self._stop = stop
        self._kernel_manager = kernel_manager
        self.log = log
        self._ready: list[PooledKernel] = []
        self._starting = 0
        self._failures = 0
        self._closed = False
        self._tasks: set[asyncio.Task] = set()
        self.hidden: set[str] = set()  # ids of kernels in the pool (starting or ready)
        self.handed_out: set[str] = set()

    def status(self) -> dict[str, Any]:
        return {"kernel_name": self.kernel_name, "size": self.size, "ready": len(self._ready),
                "starting": self._starting, "handed_out": len(self.handed_out)}

    def serves(self, kernel_name: str, env: dict[str, str], spec_env: dict[str, str] | None) -> bool:
        """Whether a kernel from the pool can stand for a fresh one of this request."""
        return (self.size > 0 and kernel_name == self.kernel_name and not spec_env
                and not any(name in env for name in READ_AT_START))

    def fill(self) -> None:
        """Start kernels in the background until ``size`` are ready or starting."""
        if self._closed or self._failures >= MAX_FAILURES:
            return
        for _ in range(self.size - len(self._ready) - self._starting):
            self._starting += 1
            task = asyncio.create_task(self._start_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_one(self) -> None:
        kernel_id = str(uuid.uuid4())
        self.hidden.add(kernel_id)
        client = None
        try:
            env = self._base_env()
            await self._start(kernel_id=kernel_id, kernel_name=self.kernel_name, env=dict(env))
            client = await answering_client(self._kernel_manager(kernel_id), READY_TIMEOUT)
            if self._closed:
                await self._discard(kernel_id, client)
                return
            self._ready.append(PooledKernel(kernel_id, client, env))
            self._failures = 0
            self.log.info("Kernel pool: kernel %s ready (%d of %d)", kernel_id, len(self._ready), self.size)
        except Exception as error:
            if not self._closed:
                self._failures += 1
                self.log.error("Kernel pool: starting a %s kernel failed: %s%s", self.kernel_name,
                               " ".join(str(error).split()) or type(error).__name__,
                               "; the pool stops refilling" if self._failures >= MAX_FAILURES else "")
            await self._discard(kernel_id, client)
        finally:
            self._starting -= 1

    async def take(self, env: dict[str, str], cwd: str) -> str | None:
        """Called by the kernel manager's ``start_kernel``: a ready kernel made into what a
        fresh start with ``env`` in ``cwd`` would be, or None when there is none."""
        self._failures = 0  # a start request is a reason to try refilling again
        self.fill()
        while self._ready:
            pooled = self._ready.pop(0)
            self.fill()
            try:
                await self._adopt(pooled, env, cwd)
            except Exception as error:
                self.log.warning("Kernel pool: kernel %s could not be handed out (%s); trying the next",
                                 pooled.kernel_id, " ".join(str(error).split()) or type(error).__name__)
                await self._discard(pooled.kernel_id, pooled.client)
                continue
            self.hidden.discard(pooled.kernel_id)
            self.handed_out.add(pooled.kernel_id)
            return pooled.kernel_id
        return None

    async def _adopt(self, pooled: PooledKernel, env: dict[str, str], cwd: str) -> None:
        to_set, to_remove = env_changes(pooled.env, env)
        to_set = {k: v for k, v in to_set.items() if k not in SET_BY_LAUNCH}
        to_remove = [k for k in to_remove if k not in SET_BY_LAUNCH]
        client = pooled.client
        msg_id = client.execute(fixup_code(to_set, to_remove, cwd), silent=True,
                                store_history=False, allow_stdin=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ADOPT_TIMEOUT
        while True:
            reply = await client.get_shell_msg(timeout=max(0.01, deadline - loop.time()))
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"{content.get('ename', 'error')}: {content.get('evalue', '')}")
        client.stop_channels()

    async def _discard(self, kernel_id: str, client: Any) -> None:
        if client is not None:
            client.stop_channels()
        try:
            await self._stop(kernel_id)
        except Exception:  # never started, or already gone
            pass
        self.hidden.discard(kernel_id)

    def forget(self, kernel_id: str) -> None:
        """Called by the kernel manager when a kernel is shut down or dies."""
        self.handed_out.discard(kernel_id)
        for pooled in list(self._ready):
            if pooled.kernel_id == kernel_id:  # a pooled kernel died: start another
                self._ready.remove(pooled)
                pooled.client.stop_channels()
                self.hidden.discard(kernel_id)
                self.fill()
        self.hidden.discard(kernel_id)

    async def close(self) -> None:
        """Called at gateway shutdown: stop refilling and shut down the pool's kernels."""
        self._closed = True
        if self._tasks:  # a start under way finishes (and is discarded) rather than orphaned
            await asyncio.wait(list(self._tasks), timeout=READY_TIMEOUT / 4)
        ready, self._ready = self._ready, []
        await asyncio.gather(*(self._discard(p.kernel_id, p.client) for p in ready),
                             return_exceptions=True)
