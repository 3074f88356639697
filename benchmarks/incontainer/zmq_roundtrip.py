"""Run inside the gateway container (``docker exec -i CONTAINER python - KERNEL_ID N CONTENT``):
the direct ZMQ round trip to a kernel, ``execute_request`` of ``1+1`` to its
``execute_reply`` on the shell channel, with jupyter_client and the kernel's connection file.
Prints a JSON list of N round trips in seconds. Standard library and jupyter_client only.
"""

import glob
import json
import os
import sys
import time

from jupyter_client import BlockingKernelClient
from jupyter_core.paths import jupyter_runtime_dir

kernel_id, count, content = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
name = f"kernel-{kernel_id}.json"
found = glob.glob(os.path.join(jupyter_runtime_dir(), name)) or glob.glob(f"/tmp/**/{name}", recursive=True)
if not found:
    sys.exit(f"no connection file {name}")
client = BlockingKernelClient()
client.load_connection_file(found[0])
client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
try:
    client.wait_for_ready(timeout=30)


    def round_trip():
        message = client.session.msg("execute_request", {"code": "1+1", **content})
        started = time.perf_counter()
        client.shell_channel.send(message)
        while True:
            reply = client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                return time.perf_counter() - started

    for _ in range(3):  # warm-up, not reported
        round_trip()
    print(json.dumps([round_trip() for _ in range(count)]))
finally:
    client.stop_channels()
