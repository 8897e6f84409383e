"""Partition definitions shared by the graph."""

import dagster as dg

from deita_assets.core.strategies import NAMES

pool_shard = dg.DynamicPartitionsDefinition(name="pool_shard")
dimension = dg.StaticPartitionsDefinition(["complexity", "quality"])
STRATEGIES = NAMES  # from the strategy registry (core/strategies.py)
strategy = dg.StaticPartitionsDefinition(STRATEGIES)

# Tag of an asset whose partitions must run one after another, in key order (the quick start's
# runner obeys it): raw_pool's cross-shard deduplication keeps a row in the shard written first.
IN_ORDER_TAG = "deita/partitions_in_order"
