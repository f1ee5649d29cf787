"""What the `diagnostics` config group instantiates: a list of callbacks to add to `fit`.

`no_diagnostics` (diagnostics=off) adds no callback, so switching diagnostics off costs nothing.
"""

from collections.abc import Callable
from typing import Any

import keras

from blueprint.data.splits import ImageData


def build_diagnostics(
    data: ImageData,
    logged_through: int = -1,
    beats_best: Callable[[float], bool] = lambda value: True,
    **options: Any,
) -> list[keras.callbacks.Callback]:
    """The diagnostics callback; `options` are the keys of conf/diagnostics/default.yaml,
    `logged_through` the last epoch a resumed run recorded already, `beats_best` whether a
    value beats the run's sweep's best so far (see `DiagnosticsCallback`)."""
    from blueprint.diagnostics.callback import DiagnosticsCallback, Options

    return [DiagnosticsCallback(data, Options(**options), logged_through, beats_best)]


def no_diagnostics(
    data: ImageData, logged_through: int = -1, beats_best: Callable[[float], bool] | None = None
) -> list[keras.callbacks.Callback]:
    return []
