-- Names of the tables in the store (to compare only those a run created).
SELECT table_name FROM duckdb_tables();
