# Kernel Gateway configuration of the kerneldock gateway image.
#
# Copied to /etc/kerneldock/kernel_gateway_config.py and loaded by
# `python -m kerneldock.gateway`. Settings a deployment may change come from KERNELDOCK_*
# environment variables (see compose.yaml); everything else is fixed on purpose.
import os

c = get_config()  # noqa: F821  (injected by traitlets when it loads this file)


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"ERROR[config] gateway: {name}={value!r} is not a whole number")


# The gateway listens on the stack's internal network only; compose publishes no port of
# it, so the only way in is the bastion's SSH forward. The token is always required
# (python -m kerneldock.gateway refuses to start without KG_AUTH_TOKEN).
c.KernelGatewayApp.ip = "0.0.0.0"
c.KernelGatewayApp.port = 8888
c.KernelGatewayApp.port_retries = 0
c.KernelGatewayApp.api = "kerneldock.gateway.personality"
c.KernelGatewayApp.kernel_websocket_connection_class = (
    "kerneldock.gateway.websocket.NoDelayWebsocketConnection"
)
# Gateway and kernels talk over unix sockets in a private folder, not TCP: no port of a
# kernel is reachable even from inside the container's network, and ipykernel has no
# plain-TCP warning to give.
c.KernelManager.transport = "ipc"
# The folder is private; the kernel manager names each kernel's socket files after its id.
c.KernelManager.ip = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kerneldock-ipc", "kernel")
os.makedirs(os.path.dirname(c.KernelManager.ip), mode=0o700, exist_ok=True)

# JupyterLab lists kernels and sessions; the token protects the list.
c.JupyterWebsocketPersonality.list_kernels = True

# What a kernel gets from the gateway's environment: PATH (always) and these. Secrets in
# the gateway's environment never reach kernels, with or without an `env` in the request.
c.KernelGatewayApp.env_process_whitelist = ["HOME", "LANG", "TMPDIR", "KERNELDOCK_WORKSPACE_PATH"]

c.KernelGatewayApp.max_kernels = _env_int("KERNELDOCK_MAX_KERNELS", 0) or None

# kerneldock's kernel manager: the limit above counts kernels still starting, a pool of
# started kernels serves start requests, the culler spares kernels stopped in a debugger.
c.KernelGatewayApp.kernel_manager_class = "kerneldock.gateway.manager.KerneldockKernelManager"
c.KerneldockKernelManager.pool_size = _env_int("KERNELDOCK_POOL_SIZE", 2)
c.KerneldockKernelManager.pool_kernel = os.environ.get("KERNELDOCK_POOL_KERNEL", "").strip()
c.KerneldockKernelManager.pool_debugger_warm = os.environ.get("KERNELDOCK_DEBUGGER_WARM", "1").strip() != "0"
if c.KerneldockKernelManager.pool_size < 0:
    raise SystemExit("ERROR[config] gateway: KERNELDOCK_POOL_SIZE must be 0 or more")

# Idle culling (jupyter_server's): off by default; seconds when set.
c.KerneldockKernelManager.cull_idle_timeout = _env_int("KERNELDOCK_CULL_IDLE_TIMEOUT", 0)
c.KerneldockKernelManager.cull_interval = _env_int("KERNELDOCK_CULL_INTERVAL", 60)
c.KerneldockKernelManager.cull_connected = os.environ.get("KERNELDOCK_CULL_CONNECTED", "") == "1"

c.KernelGatewayApp.log_level = os.environ.get("KERNELDOCK_LOG_LEVEL", "INFO").upper()
c.KernelGatewayApp.log_format = "%(levelname)s[%(asctime)s.%(msecs)03d] %(name)s: %(message)s"
c.KernelGatewayApp.log_datefmt = "%Y-%m-%dT%H:%M:%S"
