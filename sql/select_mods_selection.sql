SELECT row_id, examined_order, score, kept, reason, nearest_row_id, nearest_sim
FROM mods_selection
ORDER BY examined_order;
