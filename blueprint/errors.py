"""User-facing errors: each carries one line that names the problem and the fix."""

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import ValidationError

from blueprint.plumbing.ctrl_c import is_stop

T = TypeVar("T")
FULL_ERROR = "HYDRA_FULL_ERROR"  # Hydra's switch: raise errors instead of printing them


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


def root_cause(err: BaseException) -> BaseException:
    """The error at the bottom of `err`'s chain of causes (`raise ... from`)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def first_line(err: BaseException) -> str:
    """The first line of the root cause, for a one-line report: stores and servers wrap their
    errors (Optuna and MLflow around SQLAlchemy, requests around sockets) in generic messages."""
    err = root_cause(err)
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def exit_on_error(work: Callable[[], T]) -> T:
    """Runs a command's `work` (every entry point: train, predict, evaluate, export); bad input
    ends it with one line and exit status 2: a BlueprintError, or a config Hydra cannot compose
    (which it would report in 4-12 lines). Ctrl-C ends it with one line, what the command added
    to the KeyboardInterrupt as notes (how to go on), and the shell's status for it, 130; so does
    any error after a Ctrl-C that Python lost (`blueprint.plumbing.ctrl_c.is_stop`).
    Anything else, a fault of the code, keeps its traceback, as does everything with
    HYDRA_FULL_ERROR=1 set by the user."""
    users_choice = os.environ.get(FULL_ERROR)
    os.environ[FULL_ERROR] = "1"  # hydra.main raises its errors here instead of printing them
    try:
        return work()
    except (KeyboardInterrupt, Exception) as err:
        if is_stop(err) and users_choice != "1":  # also what a Ctrl-C Python dropped broke
            stopped(getattr(err, "__notes__", []))
        if isinstance(err, BlueprintError):
            line = str(err)
        elif isinstance(err, HydraException) and users_choice != "1":
            line = compose_failure(err)
        else:
            raise
    finally:
        if users_choice is None:
            os.environ.pop(FULL_ERROR, None)
        else:
            os.environ[FULL_ERROR] = users_choice
    logging.getLogger("blueprint").error("%s", line)  # before Hydra set up logging: bare
    sys.exit(2)


def stopped(notes: list[str]) -> NoReturn:
    """Ctrl-C's line, with what the command added (how to go on), and the shell's status, 130."""
    logging.getLogger("blueprint").warning("%s", "; ".join(["stopped (Ctrl-C)", *notes]))
    sys.exit(128 + signal.SIGINT)


def compose_failure(err: BaseException) -> str:
    """One line for a config Hydra cannot compose. An unknown option of a group names the
    options there are; a value of the wrong type (Hydra's structured configs, such as the
    sweeper's, check each key by its declared type) names its key; otherwise Hydra's own first
    line names the key ("Could not override 'trainer.nope'.") and the root cause says why."""
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return (
            f"{group}={name} is not an option of {group}: the options are "
            f"{', '.join(err.options)} (or add conf/{group}/{name}.yaml)"
        )
    cause = err.__cause__
    if isinstance(cause, ValidationError) and cause.full_key:
        return (
            f"{cause.full_key}={cause.value} is invalid: {first_line(cause).rstrip('.')}; set "
            f"{cause.full_key} to a value of that type"
        )
    top, root = str(err).strip().splitlines()[0], first_line(err)
    return top if top == root else f"{top} {root}"
