"""What the `diagnostics` config group instantiates: a list of callbacks to add to `fit`.

`no_diagnostics` (diagnostics=off) adds no callback, so switching diagnostics off costs nothing.
"""

from typing import Any

import keras

from blueprint.data.splits import ImageData


def build_diagnostics(
    data: ImageData, logged_through: int = -1, **options: Any
) -> list[keras.callbacks.Callback]:
    """The diagnostics callback; `options` are the keys of conf/diagnostics/default.yaml, and
    `logged_through` the last epoch a resumed run recorded already."""
    from blueprint.diagnostics.callback import DiagnosticsCallback, Options

    return [DiagnosticsCallback(data, Options(**options), logged_through)]


def no_diagnostics(data: ImageData, logged_through: int = -1) -> list[keras.callbacks.Callback]:
    return []
