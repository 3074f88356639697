"""Docker healthcheck of the gateway image: succeeds when the gateway serves kernelspecs.

Run by Docker inside the gateway container (`HEALTHCHECK` in images/gateway/Dockerfile);
exits 0 when an authenticated GET /api/kernelspecs answers 200, non-zero otherwise.
"""

import json
import os
import sys
import urllib.request

request = urllib.request.Request(
    "http://127.0.0.1:8888/api/kernelspecs",
    headers={"Authorization": "token " + os.environ["KG_AUTH_TOKEN"]},
)
with urllib.request.urlopen(request, timeout=3) as response:
    specs = json.load(response)["kernelspecs"]
sys.exit(0 if specs else 1)
