"""The study's bookkeeping: its name, which trials have ended, which were interrupted, and taking
the next batch of trials without two sweeps taking the same one.

A RUNNING trial belongs to the sweep process recorded on it (`host:pid`); when that process is
gone, the trial was interrupted: it is queued again with its parameters and ends FAIL.
"""

import contextlib
import hashlib
import json
import logging
import os
import socket

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.trial import FrozenTrial, Trial, TrialState

from blueprint.locks import lock_beside
from blueprint.sqlite_files import sqlite_path

log = logging.getLogger(__name__)

OWNER_ATTR = "blueprint.sweeper"  # trial user attr "host:pid": tells a live sweep from a dead one
RETRY_ATTR = "blueprint.retry_of"  # on a re-run: the number of the trial a dead sweep left
ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def study_name_for(experiment: str, space: dict[str, BaseDistribution], fixed: list[str]) -> str:
    """`<experiment>-<hash>`: the same command resumes its study, a changed space starts anew.

    `fixed` holds the fixed overrides and the direction: a trial's meaning depends on them too.
    """
    spec = {
        "space": {name: distribution_to_json(dist) for name, dist in sorted(space.items())},
        "fixed": sorted(fixed),
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    return f"{experiment}-{digest}"


def retried_numbers(study: optuna.Study) -> set[int]:
    """Trials interrupted by a dead sweep and queued again: they do not count as ended."""
    return {
        trial.user_attrs[RETRY_ATTR]
        for trial in study.get_trials(deepcopy=False)
        if RETRY_ATTR in trial.user_attrs
    }


def ended_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that ran to an end (complete, pruned, failed), interrupted ones excluded."""
    retried = retried_numbers(study)
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=ENDED)
        if trial.number not in retried
    ]


def is_alive(owner: str) -> bool:
    """Whether the sweep process `host:pid` still runs (one on another host counts as dead)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    return True


def this_process() -> str:
    """The owner recorded on the trials this sweep process runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def requeue_interrupted(study: optuna.Study) -> set[int]:
    """Trials a dead sweep left RUNNING are queued again with the same parameters, then end
    FAIL; returns their numbers. Trials of a sweep still running are left alone."""
    retried = retried_numbers(study)
    stale = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not is_alive(str(trial.user_attrs.get(OWNER_ATTR, "")))
    ]
    for trial in stale:  # queue first: a sweep killed right here loses no trial
        if trial.number not in retried:
            study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        log.warning("trial %d was interrupted; it runs again", trial.number)
    return {trial.number for trial in stale}


def take_trials(study: optuna.Study, storage: str, batch: int, n_trials: int) -> list[Trial]:
    """The next batch: never more than n_trials ended plus in flight in live sweeps.

    Counting and asking hold the store's lock (SQLite), so two sweeps on one study cannot
    both take the last trial.
    """
    path = sqlite_path(storage)
    with lock_beside(path) if path is not None else contextlib.nullcontext():
        in_flight = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if is_alive(str(t.user_attrs.get(OWNER_ATTR, "")))
        ]
        wanted = min(batch, n_trials - len(ended_trials(study)) - len(in_flight))
        trials = [study.ask() for _ in range(max(0, wanted))]
        for trial in trials:
            trial.set_user_attr(OWNER_ATTR, this_process())
    return trials


def tell_state(
    study: optuna.Study, trial: Trial, state: TrialState, value: float | None = None
) -> FrozenTrial:
    """Ends `trial` in `state`; returns it as stored."""
    try:
        return study.tell(trial, value, state=state)
    except RuntimeError as err:  # GridSampler calls study.stop(), meant for study.optimize
        if "Study.stop" not in str(err):
            raise
    return study.get_trials(deepcopy=False)[trial.number]
