"""Using a trained model: find it by reference, predict on new images, score it on a test split."""
