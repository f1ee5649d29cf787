"""blueprint: Hydra-composed Keras 3 experiments, tracked in MLflow, swept with Optuna."""

__version__ = "0.1.0"
