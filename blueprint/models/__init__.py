"""Models: builders for whole networks, task heads and in-model preprocessing."""
