SELECT count(*) AS kept_rows, count(DISTINCT row_id) AS distinct_ids FROM selection WHERE strategy = ? AND kept;
