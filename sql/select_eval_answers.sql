SELECT item_id, turn, question, answer FROM eval_answers WHERE strategy = ? ORDER BY item_id, turn;
