"""The gateway's kernel manager (``KernelGatewayApp.kernel_manager_class``).

Kernel Gateway's own manager with these changes, each one a place where the stock one lets
a user down:

- the kernel limit (``KERNELDOCK_MAX_KERNELS``) counts kernels still starting, so
  concurrent requests cannot overshoot it (the stock check counts started kernels only);
- only a few kernels (two per CPU) start at once, from launch until they first answer:
  fifty at once starved the gateway's event loop and every running kernel's traffic for
  seconds; the rest wait their turn before they are launched;
- start requests are served from a :class:`~.pool.KernelPool` when one can stand in for a
  fresh kernel; the pool's idle kernels are hidden from every list and from the limit;
- the idle culler leaves alone a kernel with a debugger stopped in it, a kernel-dev kernel
  (its debugger is outside the kernel's messages) and the pool's kernels;
- the environment a kernel gets is computed in one place (:meth:`kernel_env`);
- kernels started at the same moment never share ipc socket files.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_server._tz import utcnow
from kernel_gateway.services.kernels.manager import SeedingMappingKernelManager
from tornado import web
from traitlets import Bool, Integer, Unicode

from ..common.kerneldev import SIDECAR_SUFFIX, WARM_VARIABLE
from .debugstops import DebugStops
from .kernelenv import kernel_env
from .pool import KernelPool
from .readiness import answering_client


START_TIMEOUT = 60.0


def waits_for_debugger(env: dict[str, str], spec_env: dict[str, str] | None) -> bool:
    """Whether the kernel is a kernel-dev one, which may hold its start until a debugger
    attaches: its start is not waited for."""
    return bool(env.get("KERNEL_KERNELDOCK_DEBUG") or (spec_env or {}).get("KERNELDOCK_DEBUG"))


class KerneldockKernelManager(SeedingMappingKernelManager):
    start_gate_size = Integer(0, config=True, help="Kernels starting at once (0: two per CPU).")
    pool_size = Integer(2, config=True, help="Kernels kept started ahead of demand (0: no pool).")
    pool_kernel = Unicode("", config=True, help="Kernelspec the pool starts (default: the default kernel).")
    pool_debugger_warm = Bool(True, config=True, help="Pooled kernels start debugpy while they wait.")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._starting = 0
        self._spared: set[str] = set()
        self._restart_watched: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._start_gate = asyncio.Semaphore(self.start_gate_size or 2 * (os.cpu_count() or 1))
        self.debug_stops = DebugStops(self.log)
        self.pool = KernelPool(
            kernel_name=self.pool_kernel or self.default_kernel_name, size=self.pool_size,
            base_env=self._pool_env, start=self._start_pool_kernel,
            stop=self._stop_pool_kernel, kernel_manager=self.get_kernel, log=self.log)

    # -- environment and limit ---------------------------------------------------------

    def kernel_env(self, requested: dict[str, str]) -> dict[str, str]:
        """Called by the start handler for each request, and by the pool."""
        personality = getattr(self.parent, "personality", None)
        return kernel_env(requested, getattr(self.parent, "env_process_whitelist", ()),
                          getattr(personality, "env_whitelist", ()))

    def _pool_env(self) -> dict[str, str]:
        """What a pooled kernel starts with: a request without variables gets that, plus,
        while it waits idle, the debugger warm-up (``kerneldock.kernel.debugger_warmup``);
        handing it out removes that variable again."""
        env = self.kernel_env({})
        if self.pool_debugger_warm:
            env[WARM_VARIABLE] = "1"
        return env

    def _check_limit(self) -> None:
        limit = getattr(self.parent, "max_kernels", None)
        if limit and len(self.list_kernel_ids()) + self._starting >= limit:
            raise web.HTTPError(403, "kernel limit reached: %d kernels run or are starting "
                                "(KERNELDOCK_MAX_KERNELS); shut one down first", limit)

    # -- start --------------------------------------------------------------------------

    def pre_start_kernel(self, kernel_name: str | None, kwargs: dict[str, Any]):
        """Called by jupyter_client for every start: gives each kernel ipc sockets of its own.

        With the ``ipc`` transport jupyter_client numbers the socket files after the
        configured prefix, taking the first numbers whose files do not exist yet; kernels
        starting at the same moment then pick the same files and receive each other's
        messages (rejected as badly signed). A prefix per kernel id keeps them apart.
        """
        km, name, kernel_id = super().pre_start_kernel(kernel_name, kwargs)
        if km.transport == "ipc":
            km.ip = os.path.join(os.path.dirname(km.ip), kernel_id)
        return km, name, kernel_id

    async def start_kernel(self, *, kernel_name: str | None = None, path: str | None = None,
                           kernel_id: str | None = None, env: dict[str, str] | None = None,
                           **kwargs: Any) -> str:
        """Called by the start handler (``POST /api/kernels``) and by Kernel Gateway."""
        if kernel_id is not None and kernel_id in self.pool.hidden:
            raise web.HTTPError(409, "kernel id %s is taken", kernel_id)
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, kernel_name=kernel_name, path=path, **kwargs)
        self._check_limit()  # and count this start before the first await,
        self._starting += 1  # until the kernel is listed
        counted = True
        try:
            name = kernel_name or self.default_kernel_name
            if kernel_id is None and env is not None and self.pool.serves(name, env, self._spec_env(name)):
                cwd = self.cwd_for_path(path) if path is not None else os.getcwd()
                pooled = await self.pool.take(env, cwd)
                if pooled is not None:
                    self.get_kernel(pooled).last_activity = utcnow()
                    self.log.info("Kernel started: %s (from the pool)", pooled)
                    return pooled
            if env is not None:
                kwargs["env"] = env
            await self._start_gate.acquire()
            try:
                kernel_id = await super().start_kernel(kernel_name=kernel_name, path=path,
                                                       kernel_id=kernel_id, **kwargs)
            except BaseException:
                self._start_gate.release()
                raise
            finally:
                self._starting -= 1
                counted = False
            if waits_for_debugger(env or {}, self._spec_env(name)):
                self._start_gate.release()
            else:  # answered now; the slot is held until the kernel answers too
                task = asyncio.create_task(self._release_when_answering(kernel_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return kernel_id
        finally:
            if counted:
                self._starting -= 1

    async def _release_when_answering(self, kernel_id: str) -> None:
        try:
            client = await answering_client(self.get_kernel(kernel_id), START_TIMEOUT)
        except Exception as error:  # the client finds out; the restarter may bring it back
            if kernel_id in self:  # else shut down meanwhile, as a client may
                self.log.warning("Kernel %s did not answer after its start: %s", kernel_id,
                                 " ".join(str(error).split()) or type(error).__name__)
        else:
            client.stop_channels()
        finally:
            self._start_gate.release()

    def _spec_env(self, name: str) -> dict[str, str] | None:
        try:
            return self.kernel_spec_manager.get_kernel_spec(name).env
        except Exception:
            return None

    async def _start_pool_kernel(self, **kwargs: Any) -> str:
        async with self._start_gate:  # refills queue with everyone else's starts
            return await super().start_kernel(**kwargs)

    async def _stop_pool_kernel(self, kernel_id: str) -> None:
        await self.shutdown_kernel(kernel_id, now=True)

    # -- what others see ------------------------------------------------------------------

    def list_kernel_ids(self) -> list[str]:
        return [k for k in super().list_kernel_ids() if k not in self.pool.hidden]

    def list_kernels(self) -> list[dict[str, Any]]:
        return [model for model in super().list_kernels() if model["id"] not in self.pool.hidden]

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        """Called by the kernel routes. jupyter_client lists a kernel a moment before
        jupyter_server has given it its activity fields; the stock model then raised
        (a 500 with a traceback for ``GET /api/kernels``). Such a kernel is starting."""
        kernel = self._kernels.get(kernel_id)
        if kernel is not None and not hasattr(kernel, "last_activity"):
            kernel.last_activity = utcnow()
            kernel.execution_state = "starting"
        return super().kernel_model(kernel_id)

    # -- activity, culling, removal ---------------------------------------------------------

    def start_watching_activity(self, kernel_id: str) -> None:
        super().start_watching_activity(kernel_id)
        self.debug_stops.watch(kernel_id, self._kernels[kernel_id])
        if kernel_id not in self._restart_watched:
            # A restarted kernel (the restarter's or a client's) has no debugger stopped in it.
            self._restart_watched.add(kernel_id)
            self.add_restart_callback(kernel_id, lambda: self.debug_stops.clear(kernel_id), "restart")

    async def restart_kernel(self, kernel_id: str, now: bool = False) -> None:
        """Called by ``POST /api/kernels/ID/restart``."""
        self.debug_stops.clear(kernel_id)
        await super().restart_kernel(kernel_id, now=now)

    def stop_watching_activity(self, kernel_id: str) -> None:
        self.debug_stops.unwatch(kernel_id)
        super().stop_watching_activity(kernel_id)

    def remove_kernel(self, kernel_id: str):
        self.debug_stops.unwatch(kernel_id)
        self.pool.forget(kernel_id)
        self._spared.discard(kernel_id)
        self._restart_watched.discard(kernel_id)
        return super().remove_kernel(kernel_id)

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Called by jupyter_server's culler every ``cull_interval`` for each kernel."""
        if kernel_id in self.pool.hidden:
            return
        kernel = self._kernels[kernel_id]
        if getattr(kernel, "execution_state", None) == "dead":
            await super().cull_kernel_if_idle(kernel_id)  # jupyter_server removes dead kernels
            return
        if self.debug_stops.is_stopped(kernel_id):
            # Idle time counts from when the debugger lets the kernel go.
            kernel.last_activity = utcnow()
            self._spare(kernel_id, "a debugger is stopped in it")
            return
        if os.path.exists(kernel.connection_file + SIDECAR_SUFFIX):
            self._spare(kernel_id, "kernel-dev kernels are never culled")
            return
        self._spared.discard(kernel_id)
        await super().cull_kernel_if_idle(kernel_id)

    def _spare(self, kernel_id: str, why: str) -> None:
        if kernel_id not in self._spared:  # once per stop, not at every culler pass
            self._spared.add(kernel_id)
            self.log.info("Not culling kernel %s: %s", kernel_id, why)

    async def shutdown_all(self, now: bool = False) -> None:
        """For callers of the manager's own API (Kernel Gateway 3.0.1 shuts down through
        the personality): the pool's hidden kernels too, which ``list_kernel_ids`` omits."""
        await self.pool.close()
        await super().shutdown_all(now=now)
