DELETE FROM selection WHERE strategy = ?;
