"""DEITA-style instruction-data selection as a Dagster asset graph over DuckDB."""
