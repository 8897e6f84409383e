"""Pure logic: no Dagster imports, unit-testable on its own."""
