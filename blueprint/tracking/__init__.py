"""Tracking: the MLflow run lifecycle and what each run logs."""
