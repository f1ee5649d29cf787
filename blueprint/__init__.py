"""blueprint: Hydra-composed Keras 3 experiments, tracked in MLflow, swept with Optuna."""

__version__ = "0.2.0"  # the one place it is set (pyproject reads it); CHANGELOG.md says why
