"""The strategy registry is the only place strategies are defined: everything else derives from it."""

from pathlib import Path

import deita_assets
from deita_assets.app import cli
from deita_assets.assets import selection_walks
from deita_assets.core.strategies import (
    BY_NAME,
    DEFAULT_COMPARISON,
    NAMES,
    REGISTRY,
    describe,
    reads_ifd,
    strategy_of,
)
from deita_assets.orchestration import automation, partitions


def test_partitions_dispatch_labels_and_defaults_derive_from_the_registry():
    assert partitions.strategy.get_partition_keys() == NAMES == [s.name for s in REGISTRY]
    assert len(set(NAMES)) == len(NAMES)
    assert set(selection_walks.WALKS) == {s.walk for s in REGISTRY}  # every walk kind has one function
    assert automation.DEFAULT_REFRESH_STRATEGIES == DEFAULT_COMPARISON == "deita,random,longest_response"
    quickstart = cli.build_parser().parse_args(["quickstart"])
    assert quickstart.strategies == DEFAULT_COMPARISON
    assert {s.name for s in REGISTRY if s.uses_repr_filter} == {
        "deita",
        "diversity_only",
        "superfilter_diverse",
    }
    for entry in REGISTRY:
        assert entry.order is None or entry.order in selection_walks.ORDER_SQL or entry.walk == "top"
        assert f"- {entry.name}: " in describe()
    assert strategy_of("superfilter").label == "IFD" and BY_NAME["longest_response"].order == "response_chars"


def test_no_strategy_name_is_spelled_out_elsewhere_in_the_package():
    """Names that are no ordinary word (deita, random, mods, alpagasus are) appear only in the registry."""
    distinctive = [n for n in NAMES if "_" in n]
    package = Path(deita_assets.__file__).parent
    offenders = {
        (str(path.relative_to(package)), name)
        for path in package.rglob("*.py")
        if path.name != "strategies.py"
        for name in distinctive
        if name in path.read_text(encoding="utf-8")
    }
    assert not offenders


def test_ifd_is_wanted_only_by_strategies_that_order_by_it():
    ifd = [s.name for s in REGISTRY if s.order == "ifd"]
    assert ifd and reads_ifd([*ifd[:1], "random"])
    assert not reads_ifd(s.name for s in REGISTRY if s.order != "ifd")
