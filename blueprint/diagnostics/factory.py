"""What the `diagnostics` config group instantiates: a list of callbacks to add to `fit`.

`no_diagnostics` (diagnostics=off) adds no callback, so switching diagnostics off costs nothing.
"""

from typing import Any

import keras

from blueprint.data.splits import ImageData


def build_diagnostics(data: ImageData, **options: Any) -> list[keras.callbacks.Callback]:
    """The diagnostics callback; `options` are the keys of conf/diagnostics/default.yaml."""
    from blueprint.diagnostics.callback import DiagnosticsCallback, Options

    return [DiagnosticsCallback(data, Options(**options))]


def no_diagnostics(data: ImageData) -> list[keras.callbacks.Callback]:
    return []
