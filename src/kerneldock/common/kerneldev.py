"""What the kernel, the gateway and the laptop agree on: kernel-dev mode, the files beside a
kernel's connection file, the debugger warm-up of pooled kernels."""

MODES = ("listen", "wait")
# Where debugpy of a kernel-dev kernel listens; the bastion's PermitOpen lists exactly these.
DEBUG_PORTS = range(5700, 5720)
# Written by the kernel beside its connection file, read by the gateway.
SIDECAR_SUFFIX = ".kerneldock.json"
# The kernel's log file and its wanted log level, beside the connection file.
LOG_SUFFIX = ".log"
LOGLEVEL_SUFFIX = ".loglevel"
# Set (to "1") in the environment of pooled kernels: start debugpy while waiting idle.
WARM_VARIABLE = "KERNELDOCK_DEBUGGER_WARM"
