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
from blueprint.serving.reference import load_trained

log = logging.getLogger(__name__)

HEAD = "head"  # the output layer's name in every model blueprint builds (models/heads.py)


def load_initial_weights(model: keras.Model, reference: str, tracking_uri: str) -> None:
    """Copies the weights of the model `reference` names (run id, models:/ URI, .keras file or
    run folder) into `model`; ConfigError naming the first layer that does not match."""
    setting = f"model.initial_weights={reference}"
    try:
        source = load_trained(reference, tracking_uri).model
    except ConfigError as err:  # its lines name the commands' `model=` key: name this one
        raise ConfigError(str(err).replace(f"model={reference}", setting, 1)) from None
    copy_weights(source, model, setting)
    log.info("model: initial weights from %s", reference)


def copy_weights(source: keras.Model, target: keras.Model, setting: str) -> None:
    """Every weight of `target` from the weight of `source` with the same path and shape; all are
    checked before any is written, so a mismatch leaves `target` as it was."""
    found = {variable.path: variable for variable in source.weights}
    pairs, fresh = [], set()
    for variable in target.weights:
        layer = variable.path.rsplit("/", 1)[0]
        match = found.get(variable.path)
        if match is not None and tuple(match.shape) == tuple(variable.shape):
            pairs.append((variable, match))
        elif layer == HEAD:
            fresh.add(layer)
        elif match is None:
            raise ConfigError(
                f"{setting}: layer {layer!r} of this model has no counterpart in {source.name!r}; "
                "start from a model of the same architecture"
            )
        else:
            raise ConfigError(
                f"{setting}: layer {layer!r} holds {variable.path.rsplit('/', 1)[1]} of shape "
                f"{tuple(match.shape)} there and {tuple(variable.shape)} here; start from a model "
                "built with the same model settings"
            )
    for variable, match in pairs:
        variable.assign(match)
    if fresh:
        log.info("model: the head starts fresh (the earlier model has another number of outputs)")
