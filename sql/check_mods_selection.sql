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
    (SELECT count(*) FROM reward_scores) - count(*) AS rewarded_rows_missing
FROM mods_selection;
