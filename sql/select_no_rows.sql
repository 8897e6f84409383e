-- Template (`{table}`: a checked identifier). No rows, only the columns: their Arrow types as DuckDB exports them.
SELECT * FROM {table} LIMIT 0
