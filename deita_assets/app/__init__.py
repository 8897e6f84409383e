"""The command-line app: quickstart, ingest, dev, the graph runner and the local scale-out cluster."""
