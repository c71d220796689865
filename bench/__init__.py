"""queuectl's benchmark suite: every figure is a ratio to this machine's own limit,
measured in the same run (see bench/run.py and the README's benchmark section)."""
