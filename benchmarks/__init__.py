"""kerneldock's benchmarks: every figure of issue 8, measured side by side against stock
Kernel Gateway 3.0.1 in one run. Run them with ``scripts/bench`` (``--smoke`` for the short
version CI runs); see BENCHMARKS.md.

The benchmarks reuse the test suite's helpers (``tests/support``: stacks, tunnels, the DAP
client, polling with deadlines), so ``tests`` is put on the import path here.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
