"""The model's architecture as a PNG diagram, or as text and DOT source without Graphviz."""

import logging
from pathlib import Path

import keras

log = logging.getLogger(__name__)


def write_architecture(model: keras.Model, directory: Path, dpi: int) -> list[Path]:
    """Writes architecture.png (Keras `plot_model`), or architecture.txt and .dot with one warning.

    Never raises: a missing diagram is no reason to lose a training run.
    """
    png = directory / "architecture.png"
    try:
        keras.utils.plot_model(
            model, to_file=str(png), show_shapes=True, show_layer_names=True, dpi=dpi
        )
        return [png]
    except Exception as err:  # ImportError without Graphviz, OSError or pydot errors from `dot`
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    summary = directory / "architecture.txt"
    lines: list[str] = []
    # No line_length: Keras then fits the table to the console rich prints into (80 columns off a
    # terminal); a wider table would be cut there, losing the "Param #" column.
    model.summary(print_fn=lambda text, *_, **__: lines.append(text))
    summary.write_text("\n".join(lines) + "\n")
    written = [summary]
    try:
        dot = keras.utils.model_to_dot(model, show_shapes=True, show_layer_names=True)
    except ImportError:  # pydot itself missing: the text summary has to do
        dot = None
    if dot is not None:
        written.append(directory / "architecture.dot")
        written[-1].write_text(dot.to_string())
    log.warning(
        "no architecture diagram (%s): logged %s instead; install Graphviz for the PNG",
        reason,
        " and ".join(p.name for p in written),
    )
    return written
