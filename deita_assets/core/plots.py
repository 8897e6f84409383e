"""Small PNG plots for asset metadata: people would rather look at a distribution than read one.

Inlined into markdown metadata as data URIs, which the Dagster UI renders on the asset page, and
saved beside the asset's artifacts for notebooks and reports.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display on servers and workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot().close(fig)
    return path


def markdown_image(path: Path, alt: str) -> str:
    """The PNG inlined as a data URI, which the Dagster UI renders inside markdown metadata."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"


def histograms_png(series: Mapping[str, Sequence[float]], xlabel: str, title: str, path: Path) -> Path:
    """Overlaid histograms on shared bins, one per named series (e.g. kept vs not kept)."""
    import numpy as np

    plt = pyplot()
    fig, axis = plt.subplots(figsize=(6, 3.2))
    values = [np.asarray(v, dtype=float) for v in series.values() if len(v)]
    if values:
        bins = np.histogram_bin_edges(np.concatenate(values), bins=20)
        for name, data in series.items():
            if len(data):
                axis.hist(data, bins=bins, alpha=0.6, label=f"{name} ({len(data)})")
        axis.legend()
    else:
        axis.text(0.5, 0.5, "no values", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("rows")
    axis.set_title(title)
    return save_figure(fig, path)


def composition_png(pool: Mapping[str, int], kept: Mapping[str, int], path: Path) -> Path:
    """Share of each source in the pool beside its share in the selection."""
    plt = pyplot()
    sources = sorted(pool, key=lambda s: -pool[s])
    total_pool, total_kept = sum(pool.values()) or 1, sum(kept.values()) or 1
    fig, axis = plt.subplots(figsize=(6, 0.4 * len(sources) + 1.2))
    positions = range(len(sources))
    axis.barh([p + 0.2 for p in positions], [pool[s] / total_pool for s in sources], 0.4, label="pool")
    axis.barh(
        [p - 0.2 for p in positions], [kept.get(s, 0) / total_kept for s in sources], 0.4, label="selected"
    )
    axis.set_yticks(list(positions), sources)
    axis.invert_yaxis()
    axis.set_xlabel("share of rows")
    axis.set_title("Composition by source: pool vs selection")
    axis.legend()
    return save_figure(fig, path)
