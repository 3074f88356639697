"""``python -m benchmarks``: what ``scripts/bench`` runs."""

import sys

from .run import main

sys.exit(main())
