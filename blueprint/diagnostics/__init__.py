"""Diagnostics: weight, gradient and activation histograms, architecture and evaluation plots.

Imports run one way. capture (backend-neutral) <- tf_capture (the only TensorFlow module) <-
backends (picks the capture for the running backend); histograms (numpy) and plotting (PIL) <-
evaluation_pictures <- evaluation (draws and logs an evaluation) <- recorder (MLflow metrics,
images, artifacts) <- worker (the recorder in a child process: no TensorFlow, Keras or
scikit-learn to import) <- callback (ties them to `fit`; with split_evaluation, the model's outputs
on a split, evaluated) <- factory (what the `diagnostics` config group names).
"""
