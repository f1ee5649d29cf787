"""`model.initial_weights`: a new run starts from an earlier model's weights (retraining a network
on new data, or the second phase of transfer learning: fine-tuning what a frozen-backbone run
trained).

Weights are matched by their path (layer name / weight name), so the two models must share an
architecture; only the `head` may differ (another number of classes): it then starts fresh. The
optimizer's state is not carried over: the new run compiles its own.
"""

import logging

import keras

from blueprint.errors import ConfigError
from blueprint.models.heads import HEAD
from blueprint.serving.reference import load_trained

log = logging.getLogger(__name__)


def load_initial_weights(model: keras.Model, reference: str, tracking_uri: str) -> None:
    """Copies the weights of the model `reference` names (run id, models:/ URI, .keras file or
    run folder) into `model`; ConfigError naming the first layer that does not match."""
    source = load_trained(reference, tracking_uri, key="model.initial_weights").model
    copy_weights(source, model, f"model.initial_weights={reference}")
    log.info("model: initial weights from %s", reference)


def copy_weights(source: keras.Model, target: keras.Model, setting: str) -> None:
    """Every weight of `target` from the weight of `source` with the same path and shape; all are
    checked before any is written, so a mismatch leaves `target` as it was. The head may differ
    in its number of outputs only."""
    found = {variable.path: variable for variable in source.weights}
    mine = {variable.path for variable in target.weights}
    extra = next((path for path in found if path not in mine), None)
    if extra is not None:
        raise ConfigError(
            f"{setting}: layer {_layer(extra)!r} of {source.name!r} has no counterpart in this "
            "model; start from a model of the same architecture"
        )
    pairs, fresh_head = [], False
    for variable in target.weights:
        match = found.get(variable.path)
        if match is None:
            raise ConfigError(
                f"{setting}: layer {_layer(variable.path)!r} of this model has no counterpart in "
                f"{source.name!r}; start from a model of the same architecture"
            )
        if tuple(match.shape) == tuple(variable.shape):
            pairs.append((variable, match))
        elif _layer(variable.path) == HEAD and match.shape[:-1] == variable.shape[:-1]:
            fresh_head = True  # another number of classes: the new head learns them
        else:
            raise ConfigError(
                f"{setting}: layer {_layer(variable.path)!r} holds "
                f"{variable.path.rsplit('/', 1)[1]} of shape {tuple(match.shape)} there and "
                f"{tuple(variable.shape)} here; start from a model built with the same model "
                "settings"
            )
    for variable, match in pairs:
        variable.assign(match)
    _finalize(target)
    if fresh_head:
        log.info("model: the head starts fresh (the earlier model has another number of classes)")


def _layer(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _finalize(model: keras.Model) -> None:
    """Lets layers that derive state from their weights derive it again, as Keras' own weight
    loading does (a Normalization layer computes its mean and variance tensors from them)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _finalize(layer)
        elif hasattr(layer, "finalize_state"):  # preprocessing layers
            layer.finalize_state()
