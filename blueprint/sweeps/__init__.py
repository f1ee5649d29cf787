"""Sweeps: Hydra multiruns driven by Optuna with persistent, resumable studies.

sweeper (the loop, run by hydra_plugins.blueprint_sweeper) -> storage (Optuna stores) |
pruners (pruners by name) | parent_run (the sweep's parent MLflow run) | trial (what a job sees
of its trial) -> pruning_callback (the Keras callback that reports each epoch and prunes) |
cli (`python -m blueprint.sweeps`: the studies).
"""
