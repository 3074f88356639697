"""Median and spread of a list of samples."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass


@dataclass
class Summary:
    """``n`` samples: median, 10th/90th percentiles, min and max, in the figure's unit."""

    n: int
    median: float
    p10: float
    p90: float
    min: float
    max: float

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(values: list[float], scale: float = 1.0) -> Summary | None:
    """The summary of ``values`` multiplied by ``scale`` (e.g. 1e3 for seconds to ms);
    None when there are no samples."""
    if not values:
        return None
    ordered = sorted(v * scale for v in values)
    return Summary(len(ordered), statistics.median(ordered), percentile(ordered, 0.1),
                   percentile(ordered, 0.9), ordered[0], ordered[-1])
