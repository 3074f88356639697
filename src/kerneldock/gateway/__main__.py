"""Start command of the gateway image: ``python -m kerneldock.gateway [KG options]``.

Refuses to start without a token, keeps a slow import out of start-up, then runs Kernel
Gateway with the configuration file shipped in the image (``gateway/`` in the repository).
"""

from __future__ import annotations

import os
import sys

CONFIG_FILE = os.environ.get("KERNELDOCK_GATEWAY_CONFIG", "/etc/kerneldock/kernel_gateway_config.py")


def main(argv: list[str] | None = None) -> int:
    if not os.environ.get("KG_AUTH_TOKEN", "").strip():
        print("ERROR[start] gateway: KG_AUTH_TOKEN is empty; kerneldock never runs an open "
              "gateway (set KERNELDOCK_TOKEN, or start the stack with scripts/up)",
              file=sys.stderr)
        return 2
    # jsonschema imports rfc3987_syntax (a 3.5 s lark grammar build) for one format checker
    # that jupyter_events pulls in and the gateway never uses; jsonschema skips the checker
    # when the import fails.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from kernel_gateway.gatewayapp import KernelGatewayApp

    args = list(sys.argv[1:] if argv is None else argv)
    if os.path.exists(CONFIG_FILE):
        args = [f"--config={CONFIG_FILE}", *args]
    print(f"INFO[start] Executing: jupyter kernelgateway {' '.join(args)}", flush=True)
    KernelGatewayApp.launch_instance(argv=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
