"""``kerneldock run FILE.py[:LINE]``: run ``# %%`` cells of a local file on a remote kernel.

When ``kerneldock attach`` serves the kernel and an editor is attached, each cell is first
prepared by that relay (dumped under its kernel-side name, the editor's breakpoints on the
file's lines inside the cell set there, frames mapped back), so breakpoints set in the
editor on FILE.py hit and stack frames show FILE.py at the right lines.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from ..common.errors import KernelError, UsageError
from .attach import attach_records, resolve_kernel
from .dap.cells import Cell, cell_at, parse_cells
from .gateway_api import GatewayAPI
from .kernel_channel import KernelChannel
from .state import Profile

RUN_TIMEOUT = 24 * 3600.0  # a cell may sit at a breakpoint for as long as the user likes


def split_target(target: str) -> tuple[Path, int | None]:
    match = re.fullmatch(r"(.+?):(\d+)", target)
    path, line = (match.group(1), int(match.group(2))) if match else (target, None)
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise UsageError(f"{path} is not a file")
    return file, line


async def ask_relay(socket: str, file: Path, cell: Cell, stop_on_entry: bool) -> dict:
    try:
        reader, writer = await asyncio.open_unix_connection(socket)
    except OSError as error:
        return {"debugging": False, "why": f"cannot reach kerneldock attach ({error.strerror or error})"}
    request = {"file": str(file), "cell": cell.__dict__, "stop_on_entry": stop_on_entry}
    writer.write((json.dumps(request) + "\n").encode())
    await writer.drain()
    answer = json.loads(await asyncio.wait_for(reader.readline(), 60) or b"{}")
    writer.close()
    return answer


async def run_cells(profile: Profile, target: str, kernel_ref: str | None, stop_on_entry: bool) -> int:
    file, line = split_target(target)
    cells = parse_cells(file.read_text())
    if line is not None:
        cell = cell_at(cells, line)
        if cell is None:
            raise UsageError(f"line {line} of {file.name} is in no cell with code")
        cells = [cell]
    if not cells:
        raise UsageError(f"{file.name} has no code")
    api = GatewayAPI(profile.gateway_url, profile.token())
    records = attach_records(profile)
    if kernel_ref is None:
        if len(records) == 1:
            kernel_ref = records[0]["kernel"]
        else:
            kernels = await api.kernels()
            if len(kernels) != 1:
                raise UsageError("which kernel? " + (f"{len(kernels)} are running" if kernels else "none is running"),
                                 fix="give --kernel ID (see 'kerneldock kernels')")
            kernel_ref = kernels[0]["id"]
    kernel = await resolve_kernel(api, kernel_ref)
    relay = next((r["socket"] for r in records if r["kernel"] == kernel["id"]), None)
    status = 0
    async with KernelChannel(api, kernel["id"]) as channel:
        for cell in cells:
            answer = (await ask_relay(relay, file, cell, stop_on_entry) if relay
                      else {"debugging": False, "why": "no 'kerneldock attach' serves this kernel"})
            if "error" in answer:
                raise KernelError(f"the debugger could not prepare cell {cell.number}: {answer['error']}")
            note = "with the debugger" if answer["debugging"] else f"without a debugger ({answer['why']})"
            print(f"kerneldock: running cell {cell.number} ({file.name}:{cell.first_code_line}-{cell.end_line}) {note}",
                  file=sys.stderr, flush=True)
            result = await channel.execute(cell.code, timeout=RUN_TIMEOUT)
            sys.stdout.write(result.text)
            sys.stderr.write(result.stderr)
            if result.status != "ok":
                status = 1
                break
    return status
