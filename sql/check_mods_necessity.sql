SELECT
    count(*) AS n_rows,
    count(*) - count(DISTINCT row_id) AS duplicates,
    count(*) FILTER (WHERE reward <= (SELECT any_value(alpha) FROM mods_seed)) AS not_high_quality,
    count(*) FILTER (WHERE row_id IN (SELECT row_id FROM mods_seed)) AS in_seed,
    count(*) FILTER (WHERE necessary AND NOT (own_reward < beta)) AS necessary_not_below_beta,
    count(*) FILTER (WHERE augmented AND NOT necessary) AS augmented_not_necessary,
    count(*) FILTER (WHERE necessary) AS n_necessary,
    count(*) FILTER (WHERE augmented) AS n_augmented
FROM mods_necessity;
