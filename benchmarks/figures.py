"""A figure of the report: one quantity measured on kerneldock and on the stock setup,
the ratio between them, and the goal it is held to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .stats import Summary


@dataclass
class Goal:
    """``kerneldock``'s median must be ``op`` ``value`` (op: ``<=``, ``>=`` or ``==``)."""

    op: str
    value: float
    text: str

    def met(self, measured: float) -> bool:
        return {"<=": measured <= self.value, ">=": measured >= self.value,
                "==": measured == self.value}[self.op]


@dataclass
class Figure:
    metric: int                      # the metric number (1-9)
    key: str
    title: str
    unit: str
    kerneldock: Summary | None
    stock: Summary | None
    goal: Goal | None = None
    stock_label: str = "stock"       # what the stock column holds (e.g. "floor" for image size)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """kerneldock's median over stock's (None when either is missing or stock is 0)."""
        if self.kerneldock is None or self.stock is None or not self.stock.median:
            return None
        return self.kerneldock.median / self.stock.median

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.kerneldock is None:
            return None
        return self.goal.met(self.kerneldock.median)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "key": self.key, "title": self.title, "unit": self.unit,
            "kerneldock": self.kerneldock.as_dict() if self.kerneldock else None,
            "stock": self.stock.as_dict() if self.stock else None, "stock_label": self.stock_label,
            "ratio": self.ratio,
            "goal": None if self.goal is None else {"op": self.goal.op, "value": self.goal.value,
                                                    "text": self.goal.text},
            "met": self.met, "notes": self.notes, "extra": self.extra,
        }
