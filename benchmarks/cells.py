"""The code the benchmarks run in kernels. Breakpoint lines carry ``# @bp``."""

# A cell stopped at in the debugger (metrics 4, 5, 9).
DEBUG_CELL = '''\
def double(a):
    b = a * 2
    return b  # @bp

y = double(21)
'''

# A module in the workspace whose function the DAP client breaks in (metric 9).
DAP_MODULE = '''\
def work(n):
    squares = [i * i for i in range(n)]
    return sum(squares)  # @bp
'''
DAP_MODULE_NAME = "kdbench_work"
DAP_CALL = f"import {DAP_MODULE_NAME}\n{DAP_MODULE_NAME}.work(10)"

# A pure-Python loop, timed in the kernel: nine runs, their seconds as a JSON list (metric 5).
CPU_BOUND = '''\
import json as _json, time as _time
def _work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total
def _timed():
    started = _time.perf_counter()
    _work(1_000_000)
    return _time.perf_counter() - started
print(_json.dumps([_timed() for _ in range(9)]))
'''
