"""blueprint's Hydra sweeper: the Optuna sweeper with resumable studies, pruning and MLflow.

Hydra imports every module here on each start, so nothing here imports Optuna, MLflow or
TensorFlow at module level: the sweep code in `blueprint.sweeps` loads only when a sweep runs.
"""
