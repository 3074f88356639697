"""kerneldock connect for real: the laptop lives in a network namespace that reaches nothing
but the bastion's SSH port; the system OpenSSH client, the pinned host key, a real
JupyterLab pointed at the tunnel, and the failures a user meets, each by its message.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.http import http
from support.laptop import Laptop, jupyterlab
from support.net import free_port
from support.netns import DockerHostSshd, LaptopNamespace, can_make_namespaces
from support.stack import run, running_stack
from support.wait import wait_until


pytestmark = pytest.mark.skipif(can_make_namespaces() is not None,
                                reason=f"laptop namespace unavailable: {can_make_namespaces()}")

USER_LAUNCH_JSON = """{
    // the user's own configurations: kerneldock must keep them
    "version": "0.2.0",
    "configurations": [
        {"name": "Python: Current File", "type": "debugpy", "request": "launch", "program": "${file}"},
    ]
}
"""


@pytest.fixture(scope="module")
def laptop():
    ns = LaptopNamespace()
    try:
        yield ns.create()
    finally:
        ns.close()


@pytest.fixture(scope="module")
def stack(images, laptop):
    # The connect tests provoke a wrong token and stop the gateway on purpose.
    with running_stack(images, extra_env={"KERNELDOCK_SSH_BIND": laptop.host_ip},
                       allowed_log_problems=(r" 401 GET /api/kernelspecs", r"received signal 15, stopping")) as stack:
        yield stack


def in_ns_http(ns: LaptopNamespace, url: str, token: str) -> int:
    code = ("import sys, urllib.request as u\n"
            "r = u.Request(sys.argv[1], headers={'Authorization': 'token ' + sys.argv[2]})\n"
            "print(u.urlopen(r, timeout=10).status)")
    result = ns.run(sys.executable, "-c", code, url, token, check=False, timeout=30)
    return int(result.stdout.strip()) if result.returncode == 0 else -1


@pytest.fixture(scope="module")
def user(laptop, stack):
    user = Laptop(stack, "user", laptop)
    (user.cwd / ".vscode").mkdir()
    (user.cwd / ".vscode" / "launch.json").write_text(USER_LAUNCH_JSON)
    user.connect_detached()
    try:
        yield user
    finally:
        user.disconnect()


def test_connect_reports_the_gateway_url_and_jupyterlab_command(user, stack, laptop):
    facts = user.facts
    assert facts["gateway_url"].startswith("http://127.0.0.1:")
    assert "--gateway-url=" + facts["gateway_url"] in facts["jupyterlab"]
    assert "JUPYTER_GATEWAY_AUTH_TOKEN=" in facts["jupyterlab"] and stack.token not in facts["jupyterlab"]
    assert Path(facts["token_file"]).read_text().strip() == stack.token
    assert oct(Path(facts["token_file"]).stat().st_mode & 0o777) == "0o600"
    [row] = user.status()
    assert row["state"] == "up" and row["forwards"] == [f"127.0.0.1:{facts['gateway_url'].rsplit(':', 1)[1]} -> gateway:8888"]
    assert in_ns_http(laptop, facts["gateway_url"] + "/api/kernelspecs", stack.token) == 200


def test_laptop_reaches_nothing_but_the_bastion(user, stack, laptop):
    gateway_ip = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                      stack.container("gateway")]).stdout.split()[0]
    probe = ("import socket, sys\n"
             "for target in sys.argv[1:]:\n"
             "    host, port = target.rsplit(':', 1)\n"
             "    try:\n"
             "        socket.create_connection((host, int(port)), timeout=2).close(); print(target, 'open')\n"
             "    except OSError: print(target, 'closed')\n")
    targets = [f"{gateway_ip}:8888", f"{laptop.host_ip}:{stack.ssh_port}", f"{laptop.host_ip}:8888"]
    out = laptop.run(sys.executable, "-c", probe, *targets, timeout=30).stdout.split("\n")
    assert out[:3] == [f"{targets[0]} closed", f"{targets[1]} open", f"{targets[2]} closed"]


def test_launch_json_merge_keeps_the_users_entries(user):
    path = user.cwd / ".vscode" / "launch.json"
    document = json.loads(path.read_text())
    names = [c["name"] for c in document["configurations"]]
    assert names[0] == "Python: Current File"
    entry = document["configurations"][1]
    assert entry["name"].startswith("kerneldock: attach") and entry["type"] == "debugpy"
    assert entry["connect"] == {"host": "127.0.0.1", "port": user.facts["attach_port"]}
    assert (path.parent / "launch.json.bak").read_text() == USER_LAUNCH_JSON


def test_jupyterlab_uses_the_gateway_through_the_tunnel(user, stack, laptop, run_async):
    lab_token = "lab-token-for-test"
    with jupyterlab(user, lab_token, laptop.ns_ip) as lab_url:
        specs = http("GET", lab_url + "/api/kernelspecs", token=lab_token)[1]
        spec = specs["kernelspecs"][specs["default"]]["spec"]
        assert spec["metadata"]["debugger"] is True

        # JupyterLab's start request is served from the gateway's kernel pool.
        wait_until(lambda: re.search(r"kernel pool: [1-9]\d* of 2 python3 kernels ready",
                                     user.kerneldock("kernels", check=True).stdout), 90, "a pooled kernel ready")

        async def scenario():
            lab = GatewayAPI(lab_url, lab_token)
            kernel = await lab.start_kernel()
            on_gateway = json.loads(user.kerneldock("kernels", "--json", check=True).stdout)
            assert [k["pooled"] for k in on_gateway if k["id"] == kernel["id"]] == [True], on_gateway
            async with KernelChannel(lab, kernel["id"]) as channel:
                result = await channel.execute("import socket; print(socket.gethostname(), 6 * 7)")
            await lab.shutdown_kernel(kernel["id"])
            return result

        result = run_async(scenario())
        assert result.status == "ok"
        hostname, answer = result.stdout.split()
        assert answer == "42" and hostname == stack.container("gateway")[:12]


def test_tunnel_comes_back_on_the_same_port_after_ssh_dies(user, stack, laptop):
    before = user.status()[0]
    ssh_pid = json.loads((Path(user.facts["token_file"]).parent / "status.json").read_text())["ssh_pid"]
    os.kill(ssh_pid, signal.SIGKILL)
    wait_until(lambda: user.status()[0]["reconnects"] == before["reconnects"] + 1
               and user.status()[0]["state"] == "up", 10, "tunnel back after ssh was killed")
    assert user.status()[0]["gateway_url"] == before["gateway_url"]
    assert in_ns_http(laptop, user.facts["gateway_url"] + "/api/kernels", stack.token) == 200


def test_tunnel_comes_back_after_the_bastion_restarts(user, stack, laptop):
    before = user.status()[0]
    run(["docker", "restart", "-t", "2", stack.container("bastion")], timeout=60)
    wait_until(lambda: user.status()[0]["reconnects"] > before["reconnects"]
               and user.status()[0]["state"] == "up", 10, "tunnel back after the bastion restarted")
    assert in_ns_http(laptop, user.facts["gateway_url"] + "/api/kernels", stack.token) == 200


def test_busy_local_port_is_named_with_a_free_one(laptop, stack):
    other = Laptop(stack, "busy", laptop)
    port = free_port()
    # The port is busy inside the laptop namespace, where connect binds.
    holder = subprocess.Popen(laptop.command(sys.executable, "-c",
                              f"import socket, sys; s=socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); print('ok', flush=True); sys.stdin.read()"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = other.connect("--port", str(port))
        assert result.returncode == 1
        assert f"local port 127.0.0.1:{port} is busy" in result.stderr and "--port" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (other.cwd / ".vscode").exists()
    finally:
        holder.kill()
        holder.wait()


def test_wrong_token_is_refused_by_name(laptop, stack):
    other = Laptop(stack, "token", laptop)
    result = other.connect(env={"KERNELDOCK_TOKEN": "not-the-token"})
    assert result.returncode == 1
    assert "gateway token: the gateway refused the token" in result.stderr.strip().splitlines()[-1]
    stack.allowed_log_problems.append(r" 401 GET /api/kernelspecs")


def test_unreachable_bastion_is_named(laptop, stack):
    other = Laptop(stack, "unreachable", laptop)
    closed = free_port()
    result = other.kerneldock("connect", "--project", stack.project, "--bastion-host", laptop.host_ip,
                              "--ssh-port", str(closed), "--identity", str(stack.key))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert f"ssh: cannot reach the bastion at {laptop.host_ip} port {closed}" in last


def test_changed_host_key_is_refused_until_repinned(laptop, stack):
    other = Laptop(stack, "hostkey", laptop)
    first = other.connect("--detach", "--json", "--no-launch-json")
    assert first.returncode == 0, first.stderr
    old = json.loads(first.stdout)["bastion_host_key"]
    assert other.kerneldock("disconnect").returncode == 0
    bastion = stack.container("bastion")
    run(["docker", "exec", bastion, "sh", "-c", "rm /var/lib/kerneldock/hostkeys/ssh_host_ed25519_key*"])
    run(["docker", "restart", "-t", "2", bastion], timeout=60)
    new_key = wait_until(lambda: stack.exec(bastion, "cat", "/var/lib/kerneldock/hostkeys/ssh_host_ed25519_key.pub"),
                         30, "new host key")
    wait_until(lambda: "Server listening" in stack.logs("bastion").split("generated host key")[-1], 30, "sshd up")

    refused = other.connect("--no-launch-json")
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert f"host key: the bastion's host key changed: pinned {old}" in last
    assert "--repin" in last
    from kerneldock.laptop.ssh import fingerprint
    assert fingerprint(new_key) in last

    accepted = other.connect("--repin", "--detach", "--json", "--no-launch-json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["bastion_host_key"] == fingerprint(new_key)
    other.kerneldock("disconnect")
    stack.known_hosts.write_text(f"[{stack.ssh_host}]:{stack.ssh_port} {new_key}")


def test_gateway_not_running_is_named(laptop, stack):
    other = Laptop(stack, "nogateway", laptop)
    run(["docker", "stop", "-t", "5", stack.container("gateway")], timeout=60)
    try:
        result = other.connect("--no-launch-json", "--timeout", "3", env={"KERNELDOCK_TOKEN": stack.token})
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("kerneldock: gateway: the gateway does not answer through the tunnel")
        assert "scripts/up" in last
        without_token = other.connect("--no-launch-json")
        assert without_token.returncode == 1
        assert "gateway: no running gateway of stack" in without_token.stderr
    finally:
        run(["docker", "start", stack.container("gateway")], timeout=60)


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server is not installed (scripts/host-deps)")
def test_connect_to_a_remote_docker_host_by_its_ssh_login(laptop, stack):
    # kerneldock connect dockerhost: docker commands and the jump go through the user's
    # own SSH login to the Docker host (here a real sshd on the host's end of the link).
    sshd = DockerHostSshd(laptop, stack.dir / "dockerhost", stack.key, free_port()).start()
    try:
        wait_until(lambda: laptop.run(sys.executable, "-c",
                                      f"import socket; socket.create_connection(('{laptop.host_ip}', {sshd.port}), 2)",
                                      check=False).returncode == 0, 20, "docker host sshd listening")
        other = Laptop(stack, "remote", laptop)
        env = {"KERNELDOCK_SSH_CONFIG": sshd.ssh_config}
        result = other.kerneldock("connect", "dockerhost", "--project", stack.project,
                                  "--ssh-port", str(stack.ssh_port), "--bastion-host", laptop.host_ip,
                                  "--identity", str(stack.key), "--detach", "--json", env=env)
        assert result.returncode == 0, result.stderr
        facts = json.loads(result.stdout)
        assert facts["host"] == "dockerhost" and Path(facts["token_file"]).read_text().strip() == stack.token
        assert in_ns_http(laptop, facts["gateway_url"] + "/api/kernelspecs", stack.token) == 200
        assert other.kerneldock("disconnect", env=env).returncode == 0
        # Nothing left behind: no ssh process, no forward.
        with pytest.raises(ProcessLookupError):
            os.kill(facts["ssh_pid"], 0)
        assert in_ns_http(laptop, facts["gateway_url"] + "/api/kernelspecs", stack.token) == -1
    finally:
        sshd.close()
