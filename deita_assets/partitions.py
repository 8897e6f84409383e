"""Partition definitions shared by the graph."""

import dagster as dg

from deita_assets.core.strategies import NAMES

pool_shard = dg.DynamicPartitionsDefinition(name="pool_shard")
dimension = dg.StaticPartitionsDefinition(["complexity", "quality"])
STRATEGIES = NAMES  # from the strategy registry (core/strategies.py)
strategy = dg.StaticPartitionsDefinition(STRATEGIES)
