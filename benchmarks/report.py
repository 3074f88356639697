"""The results of a run: JSON (everything), a markdown table and a PNG chart."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from .figures import Figure

MET = {True: "met", False: "**not met**", None: "-"}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else \
        f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"


def cell(summary) -> str:
    if summary is None:
        return "-"
    if summary.n == 1:
        return fmt(summary.median)
    return f"{fmt(summary.median)} ({fmt(summary.p10)}-{fmt(summary.p90)}, n={summary.n})"


def write_json(path: Path, run: dict[str, Any], figures: list[Figure]) -> None:
    path.write_text(json.dumps({**run, "figures": [f.as_dict() for f in figures]}, indent=1) + "\n")


def markdown(run: dict[str, Any], figures: list[Figure]) -> str:
    machine = run["machine"]
    lines = [
        f"kerneldock benchmark, {'smoke' if run['smoke'] else 'full'} run of {run['started']} "
        f"({run['duration_s']:.0f} s)",
        "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB, "
        f"Linux {machine['kernel']}, Docker {machine['docker']}. Load average at start "
        f"{run['load_start']['loadavg'][0]:.2f} with {run['load_start']['running_containers']} containers "
        f"running, at end {run['load_end']['loadavg'][0]:.2f} with {run['load_end']['running_containers']}.",
        "",
        f"Source: commit {run['source']['commit']}{' with local changes' if run['source']['changed'] else ''}; "
        "images: " + ", ".join(v for k, v in sorted(run["images"].items())) + ".",
        "",
        "Median (10th-90th percentile, samples); ratio = kerneldock median / stock median.",
        "",
        "| # | figure | unit | kerneldock | stock | ratio | goal | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        stock = cell(f.stock) if f.stock_label == "stock" or f.stock is None else f"{f.stock_label}: {cell(f.stock)}"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        lines.append(f"| {f.metric} | {f.title} | {f.unit} | {cell(f.kerneldock)} | {stock} | {ratio} | "
                     f"{f.goal.text if f.goal else '-'} | {MET[f.met]} |")
    notes = [(f, n) for f in figures for n in f.notes]
    if notes or run.get("errors"):
        lines += ["", "Notes:", ""]
        lines += [f"- {f.title}: {n}" for f, n in notes]
        lines += [f"- error in {e['metric']}: {e['error']}" for e in run.get("errors", [])]
    return "\n".join(lines) + "\n"


def chart(path: Path, run: dict[str, Any], figures: list[Figure]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if f.kerneldock or f.stock]
    columns = 4
    rows = max(1, math.ceil(len(shown) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    colours = {True: "#2e7d32", False: "#c62828", None: "#546e7a"}
    for ax, f in zip(axes.flat, shown):
        bars = [("kerneldock", f.kerneldock, colours[f.met]), (f.stock_label.split(" ")[0], f.stock, "#b0bec5")]
        bars = [b for b in bars if b[1] is not None]
        for x, (label, s, colour) in enumerate(bars):
            ax.bar(x, s.median, color=colour, width=0.6)
            if s.n > 1:
                ax.errorbar(x, s.median, yerr=[[s.median - s.p10], [s.p90 - s.median]], color="black", capsize=4)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars])
        if f.goal is not None:
            ax.axhline(f.goal.value, color="#c62828", linestyle="--", linewidth=1)
        ax.set_title("\n".join(textwrap.wrap(f"{f.metric}. {f.title}", 38)), fontsize=8.5)
        ax.set_ylabel(f.unit, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(f"kerneldock vs stock Kernel Gateway 3.0.1 ({'smoke' if run['smoke'] else 'full'} run, "
                 f"{run['started']}): median, bars p10-p90, dashed: goal; green met, red not met", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_all(folder: Path, run: dict[str, Any], figures: list[Figure]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "latest.json", folder / "latest.md", folder / "latest.png"]
    write_json(paths[0], run, figures)
    paths[1].write_text(markdown(run, figures))
    chart(paths[2], run, figures)
    return paths
