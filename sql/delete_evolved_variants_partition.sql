DELETE FROM evolved_variants WHERE dimension = ?
