"""``scripts/bench --smoke`` for real (real stacks, a few samples per metric): every metric
produced numbers and the JSON, table and chart were written. No timing is asserted here;
timing goals are the benchmark's business (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from support.stack import ROOT

METRICS = set(range(1, 10))


def test_smoke_benchmark_writes_every_figure(images, tmp_path):
    images_env = tmp_path / "images.env"
    images_env.write_text("".join(f"{k}={v}\n" for k, v in images.items()))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path / "out"),
                             "--images-env", str(images_env)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(f"\nsmoke benchmark: {time.monotonic() - started:.0f} s\n{result.stdout[-3000:]}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    data = json.loads((tmp_path / "out" / "latest.json").read_text())
    assert not data["errors"]
    assert {"cpu_count", "cpu_model", "memory_gb", "kernel", "docker"} <= set(data["machine"])
    figures = data["figures"]
    assert {f["metric"] for f in figures} == METRICS
    for number in METRICS:
        # every metric measured kerneldock, and (but for the tunnel and pool refill) stock too
        mine = [f for f in figures if f["metric"] == number]
        assert any(f["kerneldock"] and f["kerneldock"]["n"] >= 1 for f in mine), mine
        assert any(f["stock"] and f["stock"]["n"] >= 1 for f in mine), mine
    for figure in figures:
        for side in ("kerneldock", "stock"):
            if figure[side]:
                assert all(isinstance(figure[side][k], (int, float)) for k in ("median", "p10", "p90", "min", "max"))
        if figure["goal"] and figure["kerneldock"]:
            assert figure["met"] in (True, False)

    table = (tmp_path / "out" / "latest.md").read_text()
    assert "| # | figure |" in table and table.count("\n| ") >= len(figures) + 1
    png = (tmp_path / "out" / "latest.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
