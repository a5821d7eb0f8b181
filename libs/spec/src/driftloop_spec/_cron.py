"""A basic check of five-field cron expressions ("*/30 * * * *"): shape and ranges only."""

from __future__ import annotations

import re

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, lowest, highest, names that stand for numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?")


def check_cron(expression: str) -> str:
    """Return the expression if valid, else raise ValueError naming the bad field.

    >>> check_cron("*/30 9-17 * * mon-fri")
    '*/30 9-17 * * mon-fri'
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in text.lower().split(","):
            if reason := _check_item(item, low, high, names):
                raise ValueError(f"cron {name} field {text!r}: {reason}")
    return expression


def _check_item(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = _ITEM.fullmatch(item)
    if match is None:
        return f"cannot read {item!r}"
    if match["step"] is not None and int(match["step"]) < 1:
        return "step must be at least 1"
    if match["range"] == "*":
        return None
    bounds = []
    for part in match["range"].split("-"):
        value = names.get(part, int(part) if part.isdigit() else None)
        if value is None:
            return f"unknown value {part!r}"
        if not low <= value <= high:
            return f"{value} is outside {low}-{high}"
        bounds.append(value)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"range {item!r} runs backwards"
    return None
