DELETE FROM evaluation WHERE strategy = ?;
