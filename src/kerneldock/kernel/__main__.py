"""Kernelspec entry point: ``python -m kerneldock.kernel -f {connection_file}``."""

import sys

from .launch import main

sys.exit(main())
