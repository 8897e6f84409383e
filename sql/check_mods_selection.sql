SELECT
    count(*) AS n_rows,
    count(*) - count(DISTINCT row_id) AS duplicates,
    count(*) FILTER (WHERE kept) AS n_kept,
    (SELECT count(*) FROM mods_seed) + (SELECT count(*) FROM mods_necessity WHERE augmented) AS n_expected_kept,
    count(*) FILTER (
        WHERE kept
          AND row_id NOT IN (SELECT row_id FROM mods_seed)
          AND row_id NOT IN (SELECT row_id FROM mods_necessity WHERE augmented)
    ) AS kept_unexplained,
    (
        SELECT count(*) FROM reward_scores AS r
        WHERE NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = r.row_id)
    ) - count(*) AS rewarded_rows_missing,
    count(*) FILTER (WHERE row_id IN (SELECT row_id FROM eval_holdout)) AS held_out_rows_present
FROM mods_selection;
