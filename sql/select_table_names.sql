-- Names of the tables in the store (views over the committed files), to compare those a run created.
SELECT view_name AS table_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal;
