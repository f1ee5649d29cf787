"""The trainer app (`make app`): train, watch, try a model and browse sweeps from the browser."""
