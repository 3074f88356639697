"""The seed guide's diagnostics, one command each, through the tunnel: exec, monitor, logs
(with the log level switched at run time) and doctor (healthy, then with a wrong token and
with the gateway stopped: it names the failing hop)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.http import http
from support.laptop import Laptop, connected
from support.stack import run, running_stack
from support.wait import wait_until


@pytest.fixture(scope="module")
def stack(images):
    # kerneldock's own level switch notes itself; doctor probes the gateway without a token.
    with running_stack(images, allowed_log_problems=(r"gateway log level set to",
                                                     r" 401 GET /api/kernelspecs")) as stack:
        yield stack


@pytest.fixture(scope="module")
def user(stack):
    with connected(stack, "diagnostics") as user:
        yield user


@pytest.fixture(scope="module")
def kernel(user, stack):
    api = GatewayAPI(user.facts["gateway_url"], stack.token)
    kernel = asyncio.run(api.start_kernel())
    try:
        yield kernel["id"]
    finally:
        try:
            asyncio.run(api.shutdown_kernel(kernel["id"]))
        except Exception:  # noqa: BLE001 - the gateway may have been restarted by a test
            pass


def test_exec_prints_output_and_fails_on_error(user, kernel):
    ok = user.kerneldock("exec", kernel[:8], "import sys; print(6 * 7); sys.version_info[:2]")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "42\n(3, 13)\n"
    failed = user.kerneldock("exec", kernel[:8], "1 / 0")
    assert failed.returncode == 1 and "ZeroDivisionError" in failed.stderr


def test_monitor_shows_a_cell_and_its_replies(user, stack, kernel):
    monitor = user.popen("monitor", kernel, "--channel", "iopub", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert "monitoring kernel" in monitor.stderr.readline()
        api = GatewayAPI(user.facts["gateway_url"], stack.token)

        async def cell() -> str:
            async with KernelChannel(api, kernel) as channel:
                queue = channel.subscribe()
                await channel.execute("print('seen by the monitor')")
                while True:
                    message = await queue.get()
                    if message["header"]["msg_type"] == "execute_input":
                        return message["parent_header"]["msg_id"]

        request_id = asyncio.run(asyncio.wait_for(cell(), 60))
        lines = []
        wait_until(lambda: lines.append(monitor.stdout.readline()) or
                   any("stream" in l and f"parent={request_id[:8]}" in l for l in lines), 30, "monitor output")
        seen = "".join(lines)
        assert "execute_input" in seen and f"parent={request_id[:8]}" in seen
        assert "seen by the monitor" in seen
        assert all(line.startswith("iopub") for line in lines if line.strip())
    finally:
        monitor.terminate()
        monitor.wait(10)


def test_logs_and_the_debug_switch(user, stack, kernel):
    before = user.kerneldock("logs", kernel)
    assert before.returncode == 0
    assert "execute_request" not in before.stdout  # INFO: messages are not logged one by one
    switched = user.kerneldock("logs", kernel, "--level", "debug")
    assert switched.returncode == 0 and "set to DEBUG" in switched.stderr
    assert user.kerneldock("exec", kernel, "print('after the switch')").returncode == 0
    try:
        after = wait_until(lambda: (out := user.kerneldock("logs", kernel).stdout) and "execute_request" in out and out,
                           20, "kernel DEBUG lines in its log")
    except TimeoutError:
        raise AssertionError("log was:\n" + user.kerneldock("logs", kernel).stdout[-3000:]) from None
    assert "kernel log level set to DEBUG" in after
    gateway_log = stack.logs("gateway")
    assert "DEBUG[" in gateway_log and stack.token not in gateway_log
    user.kerneldock("logs", kernel, "--level", "info")


def test_doctor_walks_the_hops(user, stack, kernel):
    healthy = user.kerneldock("doctor", kernel)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    hops = [line.split()[1] for line in healthy.stdout.splitlines() if line.startswith("ok")]
    assert hops[:8] == ["ssh", "host", "bastion", "gateway", "token", "kernel", "debugpy", "debugger"]

    token_file = Path(user.facts["token_file"])
    token_file.write_text("not-the-token\n")
    try:
        wrong = user.kerneldock("doctor", kernel)
        assert wrong.returncode == 1
        assert "FAIL token" in wrong.stdout and "refused the stored token" in wrong.stdout
    finally:
        token_file.write_text(stack.token + "\n")

    gateway = stack.container("gateway")
    # Stopping the gateway on purpose: it logs the signal, and its kernels are gone after.
    stack.allowed_log_problems += [r"received signal 15, stopping", r"404 DELETE /api/kernels/"]
    run(["docker", "stop", "-t", "5", gateway], timeout=60)
    try:
        stopped = user.kerneldock("doctor")
        assert stopped.returncode == 1
        assert "FAIL gateway" in stopped.stdout and "scripts/up" in stopped.stdout
    finally:
        run(["docker", "start", gateway], timeout=60)
        wait_until(lambda: stack.health(gateway) == "healthy", 60, "gateway healthy again")


def test_connect_via_docker_exec_needs_no_published_port(stack):
    # The bastion's sshd reached through 'docker exec -i BASTION sshd -i': no port at all.
    user = Laptop(stack, "viaexec")
    result = user.kerneldock("connect", "--project", stack.project, "--identity", str(stack.key),
                             "--via", "docker-exec", "--detach", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    try:
        status, specs = http("GET", facts["gateway_url"] + "/api/kernelspecs", token=stack.token)
        assert status == 200 and "python3" in specs["kernelspecs"]
    finally:
        user.disconnect()
