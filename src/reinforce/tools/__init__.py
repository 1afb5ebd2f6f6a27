"""Tools on top of runs: evaluation, recording, plots, summaries and the multi-seed launcher."""
