"""Sweeps: Hydra multiruns driven by Optuna with persistent, resumable studies.

sweeper (the loop, run by hydra_plugins.blueprint_sweeper) -> storage (Optuna stores) ->
tracking (the parent MLflow run) | trial (what a job sees of its trial) -> report (the Keras
callback that reports each epoch and prunes) | cli (`python -m blueprint.sweeps`: the studies).
"""
