"""Partition definitions shared by the graph."""

import dagster as dg

pool_shard = dg.DynamicPartitionsDefinition(name="pool_shard")
dimension = dg.StaticPartitionsDefinition(["complexity", "quality"])
STRATEGIES = [
    "deita",
    "random",
    "longest_response",
    "complexity_only",
    "quality_only",
    "diversity_only",
    "alpagasus",
    "mods",
]
strategy = dg.StaticPartitionsDefinition(STRATEGIES)
