-- Each column of a table in DDL order: nullable or NOT NULL, and whether the DDL gives it a DEFAULT.
SELECT column_name, is_nullable, column_default IS NOT NULL AS has_default
FROM duckdb_columns()
WHERE table_name = ? AND schema_name = current_schema() AND database_name = current_database()
ORDER BY column_index
