"""Side work of a training run (MLflow logging, diagnostics) whose failure never ends the run.

MLflow's own Keras callback is built the same way: a failure to log is a warning, and training
goes on. Here the first failure warns once, in one line, and switches that work off for the rest
of the run (a store that refused one write would refuse the next, each after its own retries).
Only a misconfiguration (ConfigError) still stops the run: it would fail every run alike.
"""

import contextlib
import logging
from collections.abc import Callable

from blueprint.errors import ConfigError, first_line

log = logging.getLogger(__name__)


class NeverFatal:
    """Runs one kind of side work; its first failure warns and turns it off for this run."""

    def __init__(self, what: str, on_failure: Callable[[Exception], None] | None = None) -> None:
        """`what`: the work in the warning ("diagnostics"); `on_failure`: clean-up or a note
        (a run tag) once it failed, itself allowed to fail."""
        self.what = what
        self.on_failure = on_failure
        self.failed = False

    def run(self, stage: str, work: Callable[[], None]) -> None:
        """Runs `work` unless an earlier call failed; `stage`: where, for the warning."""
        if self.failed:
            return
        try:
            work()
        except ConfigError:
            raise
        except Exception as err:
            self.failed = True
            if self.on_failure is not None:
                with contextlib.suppress(Exception):  # the warning below is the one that counts
                    self.on_failure(err)
            log.warning(
                "%s failed at %s (%s: %s); it is off for the rest of this run, training goes on",
                self.what,
                stage,
                type(err).__name__,
                first_line(err),
            )
