"""Faults and load against a real stack, as a connected user meets them.

- The gateway container restarts under a connected user (a running cell, an attached
  editor): every call fails with one line naming the gateway, ``status``/``doctor`` say it
  restarted and which kernels are gone, and the same tunnel serves new kernels.
- The tunnel is cut (ssh killed, bastion restarted) again and again for a minute: it comes
  back on the same port each time, a kernel keeps its state through every cut, and
  ``disconnect`` leaves no ssh behind on either end.
- 50 concurrent kernel starts through the tunnel while cells run in a loop on other
  kernels: no failures; the latencies are printed and written to ``artifacts/load.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from kerneldock.common.errors import KernelError
from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.dap_client import DapClient
from support.http import http
from support.laptop import Laptop, connected
from support.loop import BackgroundLoop
from support.net import free_port, port_open
from support.stack import ROOT, run, running_stack
from support.wait import wait_until

CUT_MINUTE = 60.0      # seconds of cutting the tunnel
CUT_CYCLES = 90        # at most this many cuts within it (the minute ends first)
RECONNECT_BOUND = 15.0  # each cut: the local port answers again within this
LOAD_STARTS = 50
LOAD_BUSY_KERNELS = 3
LOAD_BOUND = 240.0     # every one of the 50 starts is answered within this


@pytest.fixture(scope="module")
def stack(images):
    # Deliberate faults write these lines: the gateway stopping on SIGTERM (docker restart)
    # and doctor's token-less probe (it checks the gateway requires a token).
    with running_stack(images, allowed_log_problems=(
            r"KernelGatewayApp: received signal 15, stopping",
            r"\] 401 GET /api/kernelspecs \(")) as stack:
        yield stack


@pytest.fixture(scope="module")
def user(stack):
    with connected(stack, "user") as user:
        yield user


def status_file(user: Laptop) -> Path:
    return user.home / "state" / "connections" / f"local-{user.stack.project}" / "status.json"


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    return lines[0]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], "max": ordered[-1]}


def show(name: str, stats: dict[str, float], unit: str = "s") -> str:
    if not stats.get("n"):
        return f"{name}: none"
    scale = 1000 if unit == "ms" else 1
    return (f"{name}: n={stats['n']} median {stats['median'] * scale:.1f} {unit}, "
            f"p95 {stats['p95'] * scale:.1f} {unit}, max {stats['max'] * scale:.1f} {unit}")


def test_gateway_restart_under_a_connected_user(stack, user):
    api = GatewayAPI(user.facts["gateway_url"], stack.token, timeout=60)
    loop = BackgroundLoop()
    attach = None
    editor = None
    witness = None
    try:
        kernel = loop.call(api.start_kernel())["id"]
        channel = loop.call(KernelChannel(api, kernel).open())
        assert loop.call(channel.execute("x = 42; x")).text.strip() == "42"
        # A second user connects while the kernel runs: its connect knows the kernel by id.
        witness = Laptop(stack, "witness")
        witness.connect_detached()
        # An editor attached to the kernel through kerneldock attach.
        port = free_port()
        attach = user.popen("attach", kernel[:8], "--port", str(port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: attach.poll() is not None or port_open(port), 30, "attach listening")
        assert attach.poll() is None, attach.stderr.read()
        editor = DapClient(port)
        editor.vscode_attach(port, [{"localRoot": str(stack.workspace), "remoteRoot": "/workspace"}], {})
        before = json.loads(status_file(user).read_text())
        running = loop.submit(channel.execute("import time; time.sleep(120)", timeout=150))
        wait_until(lambda: http("GET", f"{user.facts['gateway_url']}/api/kernels/{kernel}",
                                token=stack.token)[1]["execution_state"] == "busy", 20, "cell running")

        cut = time.monotonic()
        run(["docker", "restart", "-t", "10", stack.container("gateway")], timeout=90)

        # The running cell fails with one line that names the gateway.
        error = running.exception(timeout=30)
        failed_after = time.monotonic() - cut
        assert isinstance(error, KernelError) and error.hop == "gateway", repr(error)
        assert len(str(error).splitlines()) == 1 and "gateway" in error.message
        # The editor's session ends cleanly rather than hanging.
        editor.event("terminated", timeout=15)
        wait_until(lambda: stack.health(stack.container("gateway")) == "healthy", 60, "gateway healthy again")

        # kerneldock connect noticed, by itself, and says so.
        gateway = wait_until(lambda: (g := json.loads(status_file(user).read_text())["gateway"])["restarts"] == 1 and g,
                             20, "connect saw the restart")
        assert gateway["state"] == "up" and gateway["restarted_at"] > time.time() - 120
        text = user.kerneldock("status", check=True).stdout
        assert "gateway: restarted at " in text and "gone" in text, text
        # The kernel is gone: the next call says the gateway restarted, in one line.
        line = one_line_error(user.kerneldock("exec", kernel[:8], "x"))
        assert line.startswith("kerneldock: gateway: ") and "the gateway restarted at " in line, line
        wait_until(lambda: json.loads(status_file(witness).read_text())["gateway"]["restarts"] == 1, 20,
                   "the witness's connect saw the restart")
        line = one_line_error(witness.kerneldock("exec", kernel[:8], "x"))
        assert "the gateway restarted at " in line and f"kernel {kernel[:8]} was running on it and is gone" in line, line
        doctor = witness.kerneldock("doctor", kernel[:8])
        assert doctor.returncode == 1
        assert "ok   restart    the gateway restarted at" in doctor.stdout and kernel[:8] in doctor.stdout
        assert f"FAIL kernel     {kernel[:8]} was on the gateway when it restarted" in doctor.stdout, doctor.stdout

        # The tunnel is the same one (no reconnect by hand), and new kernels work through it.
        after = json.loads(status_file(user).read_text())
        assert (after["state"], after["pid"], after["gateway_url"]) == ("up", before["pid"], before["gateway_url"])
        fresh = loop.call(api.start_kernel(), 90)["id"]
        with_new = loop.call(KernelChannel(api, fresh).open())
        assert loop.call(with_new.execute("6 * 7")).text.strip() == "42"
        loop.call(with_new.close())
        loop.call(api.shutdown_kernel(fresh))
        print(f"\ngateway restart: the running cell failed {failed_after:.1f} s after 'docker restart' "
              f"began: {error}")
    finally:
        if editor:
            editor.close()
        if attach:
            attach.terminate()
            attach.wait(10)
        if witness:
            witness.disconnect()
        loop.close()


def ssh_processes(control_path_fragment: str) -> list[int]:
    """Pids of processes on this machine whose command line names ``control_path_fragment``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"ssh") and any(control_path_fragment.encode() in a for a in argv):
                pids.append(int(entry.name))
    return pids


def bastion_sessions(stack) -> int:
    """sshd processes serving user kerneldock in the bastion (``docker top``, no ps inside)."""
    out = run(["docker", "top", stack.container("bastion")], timeout=30).stdout
    return sum(1 for line in out.splitlines()[1:] if "kerneldock" in line and "sshd" in line)


def test_tunnel_cut_and_restored_for_a_minute(stack, user):
    baseline_sessions = bastion_sessions(stack)
    cutter = Laptop(stack, "cutter")
    facts = cutter.connect_detached()
    url = facts["gateway_url"]
    api = GatewayAPI(url, stack.token, timeout=30)
    loop = BackgroundLoop()
    profile_folder = str(status_file(cutter).parent)
    seen_ssh = {facts["ssh_pid"]}
    times: list[tuple[str, float]] = []
    try:
        kernel = loop.call(api.start_kernel())["id"]

        async def execute(code: str) -> str:
            async with KernelChannel(api, kernel) as channel:
                result = await channel.execute(code, timeout=30)
            assert result.status == "ok", result.stderr
            return result.text.strip()

        assert loop.call(execute("state = 'kept'; counter = 0; state")) == "'kept'"
        started = time.monotonic()
        for cycle in range(CUT_CYCLES):
            if time.monotonic() - started >= CUT_MINUTE:
                break
            before = json.loads(status_file(cutter).read_text())
            how = "bastion restarted" if cycle % 3 == 2 else "ssh killed"
            cut = time.monotonic()
            if how == "ssh killed":
                os.kill(before["ssh_pid"], signal.SIGKILL)
            else:
                run(["docker", "restart", "-t", "2", stack.container("bastion")], timeout=60)

            def back():
                now = json.loads(status_file(cutter).read_text())
                return (now["state"] == "up" and now["reconnects"] > before["reconnects"]
                        and http("GET", url + "/api/kernels", token=stack.token, timeout=5)[0] == 200 and now)
            now = wait_until(back, RECONNECT_BOUND, f"cycle {cycle}: the local port answers again ({how})",
                             interval=0.05)
            times.append((how, time.monotonic() - cut))
            seen_ssh.add(now["ssh_pid"])
            assert now["gateway_url"] == url and now["pid"] == facts["pid"]
            # The kernel lives on the gateway, which was never touched: its state holds.
            assert loop.call(execute("counter += 1; print(state, counter)")) == f"kept {cycle + 1}"
        elapsed = time.monotonic() - started
        assert len(times) >= 5, times
        # The watch never mistook a cut tunnel for a restarted gateway.
        assert json.loads(status_file(cutter).read_text())["gateway"]["restarts"] == 0
        loop.call(api.shutdown_kernel(kernel))
    finally:
        cutter.disconnect()
        loop.close()

    # Nothing left behind: no ssh of this connection on the laptop, no session in the bastion.
    for pid in seen_ssh:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert ssh_processes(profile_folder) == []
    assert not status_file(cutter).exists()
    assert not port_open(int(url.rsplit(":", 1)[1]))
    wait_until(lambda: bastion_sessions(stack) <= baseline_sessions, 15, "bastion sessions back to before")

    seconds = [t for _, t in times]
    stats = percentiles(seconds)
    by_kind = {kind: percentiles([t for k, t in times if k == kind]) for kind in {k for k, _ in times}}
    print(f"\ntunnel cut {len(times)} times in {elapsed:.0f} s; " + show("reconnect", stats, "ms")
          + "".join(f"\n  {kind}: " + show("reconnect", s, "ms") for kind, s in sorted(by_kind.items())))


def test_fifty_concurrent_starts_under_websocket_traffic(stack, user, run_async):
    url = user.facts["gateway_url"]
    saved = AsyncHTTPClient._save_configuration()
    # The test's own HTTP client must not queue the 50 requests (tornado's default is 10
    # at a time): the latency measured is the gateway's.
    AsyncHTTPClient.configure(None, max_clients=LOAD_STARTS + 20)
    try:
        report = run_async(load(url, stack.token), timeout=LOAD_BOUND + 240)
    finally:
        AsyncHTTPClient._restore_configuration(saved)
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nload: {LOAD_STARTS} concurrent kernel starts in {report['starts_wall_s']:.1f} s while "
          f"{LOAD_BUSY_KERNELS} kernels ran {report['execute']['n']} cells\n  "
          + show("start", report["start"]) + "\n  " + show("execute round trip", report["execute"], "ms")
          + "\n  " + show("first cell on a new kernel", report["first_cell"])
          + "\n  " + show("GET /api meanwhile", report["gateway_ping"], "ms")
          + f"\n  written to {artifacts / 'load.json'}")
    assert report["failures"] == [], report["failures"]


async def load(url: str, token: str) -> dict:
    api = GatewayAPI(url, token, timeout=LOAD_BOUND)
    busy = [(await api.start_kernel())["id"] for _ in range(LOAD_BUSY_KERNELS)]
    channels = [await KernelChannel(api, k).open() for k in busy]
    for channel in channels:
        await channel.execute("n = 0")
    failures: list[str] = []
    round_trips: list[float] = []
    starting = asyncio.Event()
    done = asyncio.Event()

    async def cells(channel: KernelChannel) -> int:
        count = 0
        while not done.is_set() and count < 100_000:
            began = time.perf_counter()
            try:
                result = await channel.execute("n += 1", timeout=60)
            except KernelError as error:
                failures.append(f"execute on {channel.kernel_id[:8]}: {error}")
                return count
            round_trips.append(time.perf_counter() - began)
            count += 1
            if result.status != "ok":
                failures.append(f"execute on {channel.kernel_id[:8]}: {result.stderr}")
        return count

    start_times: list[float] = []
    started: list[str] = []

    async def start_one(number: int) -> None:
        await starting.wait()
        began = time.perf_counter()
        try:
            kernel = await api.start_kernel()
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failures.append(f"start {number}: {error}")
            return
        start_times.append(time.perf_counter() - began)
        started.append(kernel["id"])

    pings: list[float] = []

    async def ping() -> None:
        # How long the gateway takes to answer a request that involves no kernel.
        while not done.is_set():
            began = time.perf_counter()
            try:
                await api.request("GET", "/api")
            except Exception as error:  # noqa: BLE001
                failures.append(f"GET /api: {error}")
                return
            pings.append(time.perf_counter() - began)
            try:
                await asyncio.wait_for(done.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    traffic = [asyncio.create_task(cells(c)) for c in channels] + [asyncio.create_task(ping())]
    starts = [asyncio.create_task(start_one(i)) for i in range(LOAD_STARTS)]
    wall = time.perf_counter()
    starting.set()
    await asyncio.wait_for(asyncio.gather(*starts), LOAD_BOUND)
    starts_wall = time.perf_counter() - wall
    done.set()
    *counts, _ = await asyncio.gather(*traffic)
    for channel, count in zip(channels, counts):
        value = (await channel.execute("n")).text.strip()
        if value != str(count):
            failures.append(f"kernel {channel.kernel_id[:8]} counted {value} cells, {count} were run")

    # Each started kernel runs a cell (at most 10 at a time, as front-ends would open them).
    first_cells: list[float] = []
    gate = asyncio.Semaphore(10)

    async def first_cell(kernel: str) -> None:
        async with gate:
            began = time.perf_counter()
            try:
                async with KernelChannel(api, kernel) as channel:
                    result = await channel.execute("6 * 7", timeout=120)
                if result.text.strip() != "42":
                    failures.append(f"kernel {kernel[:8]} answered {result.text!r}")
            except Exception as error:  # noqa: BLE001
                failures.append(f"first cell on {kernel[:8]}: {error}")
                return
            first_cells.append(time.perf_counter() - began)

    await asyncio.gather(*(first_cell(k) for k in started))
    for channel in channels:
        await channel.close()

    async def shutdown(kernel: str) -> None:
        try:
            await api.shutdown_kernel(kernel)
        except Exception as error:  # noqa: BLE001
            failures.append(f"shutdown {kernel[:8]}: {error}")

    await asyncio.gather(*(shutdown(k) for k in started + busy))
    left = await api.kernels()
    if left:
        failures.append(f"kernels left after shutting all down: {[k['id'][:8] for k in left]}")
    return {
        "starts": LOAD_STARTS, "busy_kernels": LOAD_BUSY_KERNELS, "starts_wall_s": starts_wall,
        "start": percentiles(start_times) if start_times else {"n": 0},
        "execute": percentiles(round_trips) if round_trips else {"n": 0},
        "first_cell": percentiles(first_cells) if first_cells else {"n": 0},
        "gateway_ping": percentiles(pings) if pings else {"n": 0},
        "failures": failures, "machine": {"cpus": os.cpu_count()},
    }
