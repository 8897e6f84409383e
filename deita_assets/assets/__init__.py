"""One module per stage; every asset and asset check here is collected by definitions.py."""

import warnings

import dagster as dg

# The per-dimension checks of evolved_variants and ranked_scores use a Dagster preview API on purpose
# (partitions_def on an asset check); its warning, repeated at every import in every run process,
# would be the console's loudest line and says nothing a user can act on.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
