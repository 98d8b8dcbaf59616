"""How the cards and text files write numbers, sizes and tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The Hub's size categories (``size_categories`` in a dataset card), by number of rows.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)


def thousands(n: int) -> str:
    """12,345"""
    return f"{int(n):,}"


def kelvin(x: float | None) -> str:
    """1,234 K (n/a for None)"""
    return "n/a" if x is None else f"{x:,.0f} K"


def percent(x: float | None, digits: int = 1) -> str:
    """A fraction as 12.3% (n/a for None)"""
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def number(x: float | None, digits: int = 3) -> str:
    """0.123 (n/a for None)"""
    return "n/a" if x is None else f"{x:.{digits}f}"


def human_size(n: int) -> str:
    """Bytes in decimal units, as the Hub shows them."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for a table of ``rows`` rows."""
    for bound, label in SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1B"


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table, with a blank line after it."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: str, language: str = "python") -> str:
    """A fenced code block."""
    return f"```{language}\n{text.strip()}\n```\n"
