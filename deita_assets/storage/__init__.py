"""Storage helpers beside the store resource: SQL files, paths, lineage versions, vector and tau I/O."""
