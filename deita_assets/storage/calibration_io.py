"""Which τ a selection uses: the run's own, the reference's, or the one calibrated for its embedding spec.

A run that sets `tau` gets exactly that. Otherwise the reference embedder (the bundled MiniLM, the
model τ = 0.9 stands for) gets τ = 0.9, and any other spec gets the τ calibrated for it by
`core.tau_calibration` on a reproducible pool sample — computed once, stored in
`embedding_calibration` next to its spec and reused, so reruns and the other strategies agree.
Calibrating embeds the sample with the reference model (~10–40 s for 512 rows on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from deita_assets.core.embedding import embedding_text
from deita_assets.core.selection import DEFAULT_TAU
from deita_assets.core.tau_calibration import TauCalibration, calibrate_tau
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.selection_io import embedding_dim, vectors_of
from deita_assets.storage.sql import load_sql_for_dim

CALIBRATION_SAMPLE_ROWS = 512  # 130K pairs; the estimate moved < 0.02 between 256 and 512 Alpaca rows


@dataclass(frozen=True)
class ResolvedTau:
    tau: float
    source: str  # "run config" | "reference model" | "calibrated"
    calibration: TauCalibration | None = None

    def sweep(self, reference_taus: tuple[float, ...]) -> list[tuple[float, float]]:
        """(reference τ, this model's τ) for each swept reference τ (identity without calibration)."""
        mapped = self.calibration.map if self.calibration else float
        return [(t, mapped(t)) for t in reference_taus]


def resolve_tau(store: DuckDBStore, embedder: EmbedderResource, configured: float | None) -> ResolvedTau:
    """The τ for this run (see the module docstring); calibrates and stores it on first use."""
    if configured is not None:
        return ResolvedTau(configured, "run config")
    spec, reference = embedder.spec(), embedder.reference()
    reference_spec = reference.spec()
    if spec == reference_spec:
        return ResolvedTau(DEFAULT_TAU, "reference model")
    stored = store.fetch_arrow("select_embedding_calibration", [spec, reference_spec, DEFAULT_TAU])
    if stored.num_rows:
        return ResolvedTau(stored["tau"][0].as_py(), "calibrated", TauCalibration(**stored.to_pylist()[0]))
    calibration = calibrate_spec(store, embedder, reference)
    row = {"spec": spec, "reference_spec": reference_spec, **calibration.as_dict()}
    store.append("embedding_calibration", pa.Table.from_pylist([row]))  # the earliest one is read
    return ResolvedTau(calibration.tau, "calibrated", calibration)


def calibrate_spec(
    store: DuckDBStore,
    embedder: EmbedderResource,
    reference: EmbedderResource,
    sample_rows: int = CALIBRATION_SAMPLE_ROWS,
) -> TauCalibration:
    """Calibrate τ for the embedder's spec on a sample of its stored vectors, re-embedded by `reference`."""
    spec = embedder.spec()
    with store.get_connection() as conn:
        dim = embedding_dim(conn, spec)
        if dim is None:
            raise ValueError(f"τ calibration: no pool row is embedded with {spec!r} (run pool_embeddings)")
        sql = load_sql_for_dim("vectors_select_calibration_sample", dim)
        sample = conn.sql(sql, params=[spec, sample_rows]).to_arrow_table()
    texts = [embedding_text(turns, embedder.text_mode) for turns in sample["turns"].to_pylist()]
    reference_vectors, _ = reference.embed(texts)
    return calibrate_tau(reference_vectors, vectors_of(sample["embedding"], dim), DEFAULT_TAU)
