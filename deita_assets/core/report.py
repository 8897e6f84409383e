"""Small renderers for materialization metadata: markdown tables and text histograms."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def _cell(value: Any, max_chars: int) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def markdown_table(rows: Sequence[Mapping[str, Any]], max_chars: int = 120) -> str:
    """Rows of dicts -> a markdown table (columns from the first row); cells truncated."""
    if not rows:
        return "_(no rows)_"
    columns = list(rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, ""), max_chars) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def counts_table(counts: Mapping[str, int], key: str, value: str = "rows") -> str:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return markdown_table([{key: k, value: v} for k, v in ordered])


def histogram_table(values: Iterable[float], bins: int | Sequence[float] = 10, label: str = "value") -> str:
    """A text histogram (bin range, count, bar) that reads well in the Dagster UI."""
    data = np.asarray(list(values), dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return "_(no values)_"
    counts, edges = np.histogram(data, bins=bins)
    peak = max(int(counts.max()), 1)
    return markdown_table(
        [
            {label: f"[{edges[i]:.3g}, {edges[i + 1]:.3g})", "count": int(c), "": "█" * round(30 * c / peak)}
            for i, c in enumerate(counts)
        ]
    )
