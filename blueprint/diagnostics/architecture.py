"""The model's architecture as a PNG diagram, or as text and DOT source without Graphviz."""

import logging
import subprocess
from pathlib import Path

import keras

from blueprint.errors import first_line

log = logging.getLogger(__name__)


class ArchitectureDrawing:
    """architecture.png, drawn from Keras' DOT source by Graphviz's `dot` in its own process
    while the model trains: Keras' `plot_model` runs `dot` twice on the calling thread (30-50 ms
    that training would wait for). `files()` waits for it.

    Without Graphviz, or where `dot` fails: architecture.txt (the Keras summary) and
    architecture.dot instead, with one warning. Never raises: a missing diagram is no reason to
    lose a training run.
    """

    def __init__(self, model: keras.Model, directory: Path, dpi: int) -> None:
        self._model = model
        self._png = directory / "architecture.png"
        self._dot = directory / "architecture.dot"
        self._process: subprocess.Popen[bytes] | None = None
        self._failure: str | None = None
        try:
            source = keras.utils.model_to_dot(
                model, show_shapes=True, show_layer_names=True, dpi=dpi
            ).to_string()
        except Exception as err:  # ImportError without pydot
            self._failure = first_line(err)
            return
        self._dot.write_text(source)
        try:
            self._process = subprocess.Popen(
                ["dot", "-Tpng", "-o", str(self._png), str(self._dot)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as err:  # no `dot` on the PATH: Graphviz is not installed
            self._failure = f"Graphviz's dot: {first_line(err)}"

    def files(self) -> list[Path]:
        """The diagram, once `dot` has drawn it, or the text fallback."""
        if self._process is not None:
            _, errors = self._process.communicate()
            if self._process.returncode == 0:
                self._dot.unlink()
                return [self._png]
            said = errors.decode(errors="replace").strip().splitlines()
            self._failure = f"dot failed: {said[0] if said else self._process.returncode}"
        return self._fallback()

    def _fallback(self) -> list[Path]:
        summary = self._png.with_suffix(".txt")
        lines: list[str] = []
        # No line_length: Keras then fits the table to the console rich prints into (80 columns
        # off a terminal); a wider table would be cut there, losing the "Param #" column.
        self._model.summary(print_fn=lambda text, *_, **__: lines.append(text))
        summary.write_text("\n".join(lines) + "\n")
        written = [summary, self._dot] if self._dot.exists() else [summary]
        self._png.unlink(missing_ok=True)  # a partial picture from a failed `dot`
        log.warning(
            "no architecture diagram (%s): logged %s instead; install Graphviz for the PNG",
            self._failure,
            " and ".join(p.name for p in written),
        )
        return written
