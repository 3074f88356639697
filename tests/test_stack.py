"""The stack for real: images, compose, bastion, gateway personality, a debug session.

Everything goes through the bastion's published SSH port with the system OpenSSH client, a
key made for the test and the bastion's host key pinned.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.http import http
from support.jupyter_debug import break_in_cell, next_debug_event
from support.marks import marked_line
from support.stack import ROOT, Stack, Tunnel, gateway_env_override, run, running_stack

SECRET = "gateway-only-secret-8d1f"
OVERRIDE = gateway_env_override(KERNELDOCK_TEST_SECRET=SECRET)


@pytest.fixture(scope="module")
def stack(images):
    with running_stack(images, override=OVERRIDE) as stack:
        yield stack


@pytest.fixture(scope="module")
def tunnel(stack):
    with Tunnel(stack) as tunnel:
        yield tunnel


@pytest.fixture
def api(stack, tunnel):
    return GatewayAPI(tunnel.url, stack.token)


def test_second_build_reuses_every_image(images):
    # The session fixture has built (or found) the images; a second run must rebuild none.
    result = run([str(ROOT / "scripts" / "build-images"), "--quiet"], timeout=600)
    for name in ("kernel", "gateway", "bastion"):
        tag = images[f"KERNELDOCK_{name.upper()}_IMAGE"]
        assert f"{name} image {tag} is up to date" in result.stderr
        assert f"building {name} image" not in result.stderr


def test_only_the_bastion_port_is_published_on_loopback(stack):
    ids = run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"]).stdout.split()
    assert len(ids) == 2
    published = {}
    for cid in ids:
        info = json.loads(run(["docker", "inspect", cid]).stdout)[0]
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        for port, bindings in (info["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                published.setdefault(service, []).append((port, binding["HostIp"], binding["HostPort"]))
    assert published == {"bastion": [("22/tcp", "127.0.0.1", str(stack.ssh_port))]}


def test_gateway_requires_the_token(stack, tunnel):
    stack.allowed_log_problems.append(r" 401 GET /api/kernel")
    stack.allowed_log_problems.append(r"401 GET /api/kernels/0+-0+-0+-0+-0+/channels")
    status, body = http("GET", tunnel.url + "/api/kernels")
    assert status == 401 and "token" in body["message"]
    assert http("GET", tunnel.url + "/api/kernels", token="wrong")[0] == 401
    assert http("GET", tunnel.url + "/api/kernelspecs", token="wrong")[0] == 401
    assert http("GET", tunnel.url + "/api/kernelspecs", token=stack.token + "x")[0] == 401
    assert http("GET", tunnel.url + "/api/kernelspecs?token=")[0] == 401
    assert http("GET", tunnel.url + "/api/kernels/00000000-0000-0000-0000-000000000000/channels", token="wrong")[0] == 401
    # The query form works, and the token never reaches the log.
    status, kernels = http("GET", f"{tunnel.url}/api/kernels?token={stack.token}")
    assert status == 200 and isinstance(kernels, list)
    assert stack.token not in stack.logs("gateway")


def test_kernelspec_offers_the_debugger(api, run_async):
    specs = run_async(api.kernelspecs())
    spec = specs["kernelspecs"][specs["default"]]["spec"]
    assert spec["metadata"]["debugger"] is True
    assert spec["argv"][-4:] == ["-m", "kerneldock.kernel", "-f", "{connection_file}"]


def test_kernel_runs_code_with_workspace_and_basic_environment(stack, api, run_async):
    code = (
        "import os, sys, platform\n"
        "open('from-kernel.txt', 'w').write('hello')\n"
        "print(os.getcwd(), os.environ.get('HOME'), os.environ.get('LANG'),"
        " os.environ.get('TMPDIR'), platform.python_version(), os.getuid())"
    )

    async def scenario():
        kernel = await api.start_kernel()
        try:
            async with KernelChannel(api, kernel["id"]) as channel:
                return await channel.execute(code)
        finally:
            await api.shutdown_kernel(kernel["id"])

    result = run_async(scenario())
    assert result.status == "ok", result.stderr
    cwd, home, lang, tmpdir, version, uid = result.stdout.split()
    assert (cwd, home, lang, tmpdir, uid) == ("/workspace", "/home/kerneldock", "C.UTF-8", "/tmp", "1000")
    assert version.startswith("3.13.")
    assert (stack.workspace / "from-kernel.txt").read_text() == "hello"


@pytest.mark.parametrize("body", [None, {"name": "python3"}, {"env": {"KERNEL_COLOUR": "blue", "LD_PRELOAD": "x"}}])
def test_kernel_never_sees_the_gateway_environment(api, run_async, body):
    async def scenario():
        if body is None:  # a POST with no body at all
            kernel = await api.request("POST", "/api/kernels")
        else:
            kernel = await api.request("POST", "/api/kernels", body)
        try:
            async with KernelChannel(api, kernel["id"]) as channel:
                return await channel.execute(
                    "import os, json; print(json.dumps(dict(os.environ)))")
        finally:
            await api.shutdown_kernel(kernel["id"])

    result = run_async(scenario())
    env = json.loads(result.stdout)
    assert SECRET not in result.stdout
    assert "KG_AUTH_TOKEN" not in env and "KERNELDOCK_TEST_SECRET" not in env
    assert "LD_PRELOAD" not in env
    if body and "env" in body:
        assert env["KERNEL_COLOUR"] == "blue"


def test_client_errors_are_one_line_4xx_without_traceback(stack, tunnel):
    stack.allowed_log_problems.append(r" 40[04] POST /api/kernels")
    cases = [
        (b'{"name": "no-such-kernel"}', 404, "no kernelspec named 'no-such-kernel'"),
        (b'{"name": ', 400, "not valid JSON"),
        (b'["python3"]', 400, "must be a JSON object"),
        (b'{"env": {"KERNEL_X": 1}}', 400, "'env' must be an object of string values"),
    ]
    for body, status, message in cases:
        got_status, got = http("POST", tunnel.url + "/api/kernels", token=stack.token, body=body)
        assert got_status == status, (body, got)
        assert message in got["message"] and "\n" not in got["message"]
        assert "traceback" not in json.dumps(got).lower()


def ssh_to_bastion(stack: Stack, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return run(["ssh", *stack.ssh_options(), *args], timeout=timeout, check=False)


def test_bastion_allows_nothing_but_forwarding_to_the_gateway(stack):
    shell = ssh_to_bastion(stack, "kerneldock@127.0.0.1", "id")
    assert shell.returncode != 0 and "uid=" not in shell.stdout
    tty = ssh_to_bastion(stack, "-tt", "kerneldock@127.0.0.1")
    assert tty.returncode != 0 and "PTY allocation request failed" in tty.stderr
    remote = ssh_to_bastion(stack, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22",
                            "kerneldock@127.0.0.1")
    assert remote.returncode != 0 and "remote port forwarding failed" in remote.stderr
    root = ssh_to_bastion(stack, "root@127.0.0.1", "true")
    assert root.returncode == 255 and "Permission denied" in root.stderr
    stack.allowed_log_problems += [r"Invalid user root|invalid user root|User root not allowed"]


@pytest.mark.parametrize("target", ["bastion:22", "gateway:22", "127.0.0.1:22"])
def test_bastion_refuses_other_destinations(stack, target):
    with Tunnel(stack, target=target) as other:
        # The local listener exists (ssh cannot know); the bastion refuses the channel.
        status = http_or_error(other.url)
        assert status is None
        other.close()
        assert "administratively prohibited" in other.process.stderr.read()


def http_or_error(url: str):
    try:
        return http("GET", url, timeout=5)[0]
    except OSError:
        return None


def test_bastion_refuses_an_unknown_key(stack, tmp_path):
    other = tmp_path / "other_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)])
    options = stack.ssh_options()
    options[options.index("-i") + 1] = str(other)
    result = run(["ssh", *options, "-N", "-L", "127.0.0.1:1:gateway:8888", "kerneldock@127.0.0.1"],
                 check=False, timeout=30)
    assert result.returncode == 255 and "Permission denied (publickey)" in result.stderr


def test_gateway_refuses_to_start_without_a_token(images):
    result = run(["docker", "run", "--rm", "-e", "KG_AUTH_TOKEN=", images["KERNELDOCK_GATEWAY_IMAGE"]],
                 check=False, timeout=60)
    assert result.returncode == 2
    assert "KG_AUTH_TOKEN is empty" in result.stderr
    compose = run([str(ROOT / "scripts" / "compose"), "config", "-q"], check=False,
                  env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert compose.returncode != 0 and "KERNELDOCK_TOKEN is not set" in compose.stderr


CELL = '''\
def double(a):
    b = a * 2
    return b  # @bp

x = 21
y = double(x)
print("y =", y)
'''


def test_jupyterlab_style_debug_session_through_the_tunnel(api, run_async):
    line = marked_line(CELL)

    async def scenario():
        kernel = await api.start_kernel()
        try:
            async with KernelChannel(api, kernel["id"]) as channel:
                return await debug_session(channel)
        finally:
            await api.shutdown_kernel(kernel["id"])

    async def debug_session(channel: KernelChannel):
        events = channel.subscribe()
        path = await break_in_cell(channel, CELL, line)

        execution = asyncio.ensure_future(channel.execute(CELL, timeout=60))
        stopped = await next_debug_event(events, "stopped", 30)
        thread = stopped["body"]["threadId"]
        frames = (await channel.debug("stackTrace", {"threadId": thread}))["body"]["stackFrames"]
        assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, line)
        assert frames[0]["name"] == "double"
        scopes = (await channel.debug("scopes", {"frameId": frames[0]["id"]}))["body"]["scopes"]
        local = next(s for s in scopes if s["name"] == "Locals")
        variables = (await channel.debug("variables", {
            "variablesReference": local["variablesReference"]}))["body"]["variables"]
        values = {v["name"]: v["value"] for v in variables}
        assert values["a"] == "21" and values["b"] == "42"
        assert (await channel.debug("continue", {"threadId": thread}))["success"]
        result = await execution
        assert result.status == "ok"
        assert result.stdout == "y = 42\n"
        await channel.debug("disconnect", {"restart": False, "terminateDebuggee": False})

    run_async(scenario())
