"""Run inside the gateway container (``docker exec -i CONTAINER python -``): the resident
memory (VmRSS, bytes) of every process, with its pid, parent and command line, read from
/proc. Prints a JSON list. Standard library only.
"""

import json
import os

processes = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        status = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.strip()
    except OSError:
        continue
    if "VmRSS" not in status:  # kernel threads, zombies
        continue
    processes.append({"pid": int(pid), "ppid": int(status["PPid"]), "cmdline": cmdline,
                      "rss": int(status["VmRSS"].split()[0]) * 1024})
print(json.dumps(processes))
