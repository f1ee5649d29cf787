"""User-facing errors: each carries one line that names the problem and the fix."""

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class BlueprintError(Exception):
    """A problem the user can fix (config, data, store); reported as one line, no traceback."""


class ConfigError(BlueprintError):
    """A config value that cannot work, caught before any training starts."""


class DataError(BlueprintError):
    """Data that is missing, corrupt or disagrees with its config."""


class TrainingError(BlueprintError):
    """Training that went wrong in a way the user can act on, such as a non-finite loss."""


class SweepError(BlueprintError):
    """A sweep that cannot start or go on: bad config, an unusable store, too many failures."""


class TrialPruned(Exception):
    """A sweep's pruner stopped this trial early on purpose: its run is valid, not failed."""


def first_line(err: BaseException) -> str:
    """The first line of the root cause, for a one-line report: stores and servers wrap their
    errors (Optuna and MLflow around SQLAlchemy, requests around sockets) in generic messages."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def exit_on_error(work: Callable[[], T]) -> T:
    """Runs a command's `work`; a BlueprintError ends it with its one line and exit status 2."""
    try:
        return work()
    except BlueprintError as err:
        logging.getLogger("blueprint").error("%s", err)
        sys.exit(2)


def compose_failure(err: BaseException) -> str:
    """One line for a config Hydra cannot compose: Hydra's own first line names the key
    ("Could not override 'trainer.nope'."), the root cause says why."""
    top, cause = str(err).strip().splitlines()[0], first_line(err)
    return top if top == cause else f"{top} {cause}"
