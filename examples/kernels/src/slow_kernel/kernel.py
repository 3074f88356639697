"""SlowKernel: an IPythonKernel subclass with a feature of its own, in the spirit of the
seed guide's LLM kernel, without any network use.

A cell that starts with ``%slow SECONDS [TEXT]`` is handled by the kernel itself: it
"thinks" for SECONDS (cancellable async work, as an LLM query would be) and then answers
with TEXT reversed. An interrupt during that work cancels it cleanly. Every other cell is
plain IPython.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ipykernel.ipkernel import IPythonKernel

log = logging.getLogger("slow_kernel")


class SlowKernel(IPythonKernel):
    implementation = "slow_kernel"
    implementation_version = "0.1"
    banner = "SlowKernel: IPython, plus %slow SECONDS TEXT"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.queries_answered = 0  # @bp-init
        self.current_work: asyncio.Task | None = None

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, **kwargs):
        if not code.startswith("%slow"):
            return await super().do_execute(code, silent, store_history, user_expressions,  # @bp-execute
                                            allow_stdin, **kwargs)
        parts = code.split(maxsplit=2)
        seconds = float(parts[1]) if len(parts) > 1 else 1.0
        text = parts[2].strip() if len(parts) > 2 else ""
        answer = await self.slow_answer(seconds, text)
        if answer is None:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": "interrupted\n"})
            return {"status": "abort", "execution_count": self.execution_count}
        self.queries_answered += 1
        self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": answer + "\n"})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}

    async def slow_answer(self, seconds: float, text: str) -> str | None:
        """The kernel's own async work; None when an interrupt cancelled it."""
        loop = asyncio.get_running_loop()
        self.current_work = asyncio.ensure_future(asyncio.sleep(seconds, result=text[::-1]))
        # The gateway interrupts a kernel with SIGINT; during our own work it cancels the
        # work instead of raising KeyboardInterrupt somewhere in the event loop.
        loop.add_signal_handler(signal.SIGINT, self.current_work.cancel)
        self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": f"thinking for {seconds:g} s\n"})
        try:
            return await self.current_work
        except asyncio.CancelledError:
            log.info("slow work interrupted")
            return None
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.current_work = None
