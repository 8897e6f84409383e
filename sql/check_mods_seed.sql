WITH params AS (SELECT any_value(alpha) AS alpha, any_value(k_requested) AS k_requested FROM mods_seed)
SELECT
    (SELECT count(*) FROM mods_seed) AS n_seed,
    (SELECT count(*) - count(DISTINCT row_id) FROM mods_seed) AS duplicates,
    (SELECT count(*) FROM mods_seed, params WHERE mods_seed.reward <= params.alpha) AS not_above_alpha,
    (SELECT k_requested FROM params) AS k_requested,
    (SELECT count(*) FROM reward_scores, params WHERE status = 'ok' AND reward > params.alpha) AS n_high_quality;
