SELECT strategy, benchmark, metric, value, n, detail FROM evaluation ORDER BY strategy, benchmark, metric;
