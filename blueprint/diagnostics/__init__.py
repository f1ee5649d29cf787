"""Diagnostics: weight, gradient and activation histograms, architecture and evaluation plots.

capture (backend-neutral; TensorFlow only in tf_capture) -> histograms (numpy) -> recorder (MLflow
metrics and pictures drawn by plotting, matplotlib Agg); architecture and evaluation log once per
run; callback ties them to `fit`, and factory is what the `diagnostics` config group names.
"""
