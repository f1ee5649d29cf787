"""Metrics Keras lacks: the Dice coefficient of a segmentation, averaged over classes."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="blueprint")
class MeanDice(keras.metrics.MeanIoU):
    """2|A∩B| / (|A| + |B|) per class from the same pixel confusion matrix as MeanIoU, averaged
    over the classes that occur (in the truth or the prediction); takes probabilities."""

    def __init__(self, num_classes: int, name: str = "dice", **kwargs) -> None:
        kwargs.setdefault("sparse_y_pred", False)
        super().__init__(num_classes=num_classes, name=name, **kwargs)

    def result(self):
        matrix = ops.cast(self.total_cm, "float32")
        hits = ops.diagonal(matrix)
        sizes = ops.sum(matrix, axis=0) + ops.sum(matrix, axis=1)  # |A| + |B| per class
        present = ops.cast(ops.greater(sizes, 0), "float32")
        dice = ops.divide_no_nan(2 * hits, sizes)
        return ops.divide_no_nan(ops.sum(dice * present), ops.sum(present))
