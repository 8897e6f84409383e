"""Dagster resources: typed, configurable access to storage, LLMs, embedders and models."""
