"""Reports: the metrics table, plots and a self-contained HTML page built from an evaluation folder."""
