"""The study's bookkeeping: its name, which trials have ended, which were interrupted, and taking
the next batch of trials without two sweeps taking the same one.

A sweep proves its trials alive with Optuna's heartbeat: while a trial runs, its sweep records a
heartbeat in the study store every `heartbeat_interval` seconds. A RUNNING trial whose heartbeat
is older than the grace period was interrupted, wherever its sweep ran: any sweep on the study
ends it FAIL and queues its parameters again. Host names and process ids play no part, so sweeps
on several machines share one study.

An interruption is not the trial's fault (a pre-empted node, a closed laptop): the interrupted
trial is left out of the study's count of ended and failed trials, and its point runs again. Only
a point interrupted `max_interruptions` times in a row (it may be what kills its sweep) is given
up: that trial stays FAIL and counts.
"""

import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, Trial, TrialState

from blueprint.plumbing.locks import store_lock

log = logging.getLogger(__name__)

RETRY_ATTR = "blueprint.retry_of"  # on a re-run: the number of the trial a dead sweep left
INTERRUPTIONS_ATTR = "blueprint.interruptions"  # on a re-run: its point's interruptions in a row
GAVE_UP_PREFIX = "blueprint.gave_up."  # study user attr + trial number: a point given up on
ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def study_name_for(experiment: str, space: dict[str, BaseDistribution], fixed: list[str]) -> str:
    """`<experiment>-<hash>`: the same command resumes its study, a changed space starts anew.

    `fixed` holds the fixed overrides and the direction: a trial's meaning depends on them too.
    """
    spaces = {name: distribution_to_json(dist) for name, dist in space.items()}
    return f"{experiment}-{digest({'space': spaces, 'fixed': sorted(fixed)})}"


def grid_family(experiment: str, names: list[str], fixed: list[str]) -> str:
    """`<experiment>-<hash>` of a grid's parameter names and fixed overrides, not its values:
    the versions of a grid whose values change share it (blueprint.sweeps.grid)."""
    return f"{experiment}-{digest({'grid': sorted(names), 'fixed': sorted(fixed)})}"


def digest(spec: Any) -> str:
    """Eight hex digits naming a JSON-able spec, whatever the order of its keys."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]


def retried_numbers(study: optuna.Study) -> set[int]:
    """Trials interrupted by a dead sweep and queued again: they do not count as ended."""
    return {
        trial.user_attrs[RETRY_ATTR]
        for trial in study.get_trials(deepcopy=False)
        if RETRY_ATTR in trial.user_attrs
    }


def trial_point(trial: FrozenTrial) -> dict[str, Any]:
    """The point a trial holds. One taken from the queue holds the point it was queued with
    (Optuna's `fixed_params`, as its own `enqueue_trial(skip_if_exists=True)` reads it) before
    its sweep draws its parameters, outside the store's lock: another sweep must not queue that
    point again meanwhile, and a sweep killed in between leaves it to be queued again."""
    return trial.system_attrs.get("fixed_params", trial.params)


def ended_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that ran to an end (complete, pruned, failed), interrupted ones excluded (but
    those given up on: they count as failed)."""
    retried = retried_numbers(study)
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=ENDED)
        if trial.number not in retried
    ]


def given_up(study: optuna.Study) -> dict[int, int]:
    """Trials whose point was interrupted too often in a row to run again: number -> times."""
    return {
        int(key.removeprefix(GAVE_UP_PREFIX)): times
        for key, times in study.user_attrs.items()
        if key.startswith(GAVE_UP_PREFIX)
    }


class RequeueStale:
    """Optuna's stale-trial callback: queues an interrupted trial's parameters again, unless its
    point was interrupted `max_interruptions` times in a row: that trial stays FAIL, counted.

    Optuna's own RetryHeartbeatStaleTrialCallback copies the trial's user attributes, which
    hold the dead trial's MLflow run id; the re-run must start without it.
    """

    def __init__(self, max_interruptions: int) -> None:
        self.max_interruptions = max_interruptions
        self.numbers: set[int] = set()  # re-queued or given up since the last `take`

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.requeue(study, trial, trial.user_attrs.get(INTERRUPTIONS_ATTR, 0) + 1)

    def requeue(self, study: optuna.Study, trial: FrozenTrial, times: int) -> None:
        """Queues the trial's point again as its `times`-th interruption in a row."""
        self.numbers.add(trial.number)
        if times >= self.max_interruptions:
            # one key a trial: sweeps giving up on different trials at once never collide
            study.set_user_attr(f"{GAVE_UP_PREFIX}{trial.number}", times)
            log.warning(
                "trial %d was interrupted %d times in a row; its point is given up (FAIL, "
                "counted as failed: hydra.sweeper.max_interruptions=%d)",
                trial.number,
                times,
                self.max_interruptions,
            )
            return
        attrs = {RETRY_ATTR: trial.number, INTERRUPTIONS_ATTR: times}
        study.enqueue_trial(trial_point(trial), user_attrs=attrs)
        log.warning("trial %d was interrupted; it runs again", trial.number)

    def take(self) -> set[int]:
        numbers, self.numbers = self.numbers, set()
        return numbers


def requeue_stale(study: optuna.Study, storage: optuna.storages.RDBStorage) -> set[int]:
    """Ends FAIL every trial whose heartbeat went stale and queues it again; returns their numbers.

    Optuna ends each stale trial in one conditional update, so when several sweeps look at once,
    only one of them re-queues it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    callback = storage.get_heartbeat_stale_trial_callback()
    return callback.take() if isinstance(callback, RequeueStale) else set()


def release(
    study: optuna.Study, storage: optuna.storages.RDBStorage, trials: list[Trial]
) -> set[int]:
    """Ends this sweep's unfinished trials FAIL and queues them again (a Ctrl-C): the next
    sweep runs them at once instead of waiting out their grace period. Returns their numbers.
    A Ctrl-C is the user's choice, not the point's doing: it does not add to the point's
    interruptions in a row."""
    requeue = storage.get_heartbeat_stale_trial_callback()
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    released = set()
    for trial in trials:
        if trial.number in running:
            frozen = study.tell(trial, state=TrialState.FAIL)
            if isinstance(requeue, RequeueStale):
                requeue.requeue(study, frozen, frozen.user_attrs.get(INTERRUPTIONS_ATTR, 0))
            released.add(trial.number)
    return released


def trial_id(storage: optuna.storages.BaseStorage, study: optuna.Study, number: int) -> int:
    """The store's id of trial `number`, which heartbeats are recorded under (public lookups)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


class Heartbeats:
    """Records a heartbeat every interval for each trial in flight (here or on a launcher's
    workers): the sweep that told Optuna it took them vouches for them until it tells the end.
    Trials join and leave one by one, as slots start and finish them."""

    def __init__(self, storage: optuna.storages.RDBStorage, study: optuna.Study) -> None:
        self.storage = storage
        self.study = study
        self.ids: dict[int, int] = {}  # trial number -> store id
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="optuna-heartbeats", daemon=True)

    def __enter__(self) -> "Heartbeats":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def add(self, number: int) -> None:
        store_id = trial_id(self.storage, self.study, number)
        with self.lock:
            self.ids[number] = store_id

    def remove(self, number: int) -> None:
        with self.lock:
            self.ids.pop(number, None)

    def _beat(self) -> None:
        while not self.stop.wait(self.storage.get_heartbeat_interval()):
            with self.lock:
                ids = list(self.ids.values())
            for store_id in ids:
                self.storage.record_heartbeat(store_id)


def take_trials(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    url: str,
    batch: int,
    n_trials: int,
    missing: Callable[[optuna.Study], list[dict[str, Any]]] | None = None,
) -> list[Trial]:
    """The next trials, up to `batch`: never more than n_trials ended plus in flight (RUNNING,
    heartbeat fresh: `requeue_stale` ran first). Each trial's first heartbeat is recorded as it
    is taken.
    `missing`: a grid's points no trial holds yet (blueprint.sweeps.grid), queued before asking.

    Counting and asking hold the store's lock, so two sweeps on one study cannot both take the
    last trial (PostgreSQL and SQLite; on other server databases they may, one extra at most).
    """
    with store_lock(url):
        in_flight = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        wanted = min(batch, n_trials - len(ended_trials(study)) - len(in_flight))
        if missing is not None:  # a grid: its points no trial holds, queued in order
            waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            points = missing(study)
            for point in points[: max(0, wanted - waiting)]:
                study.enqueue_trial(point)
            wanted = min(wanted, waiting + len(points))
        with warnings.catch_warnings():  # Optuna: "heartbeat ... used with Study.optimize"
            warnings.simplefilter("ignore", UserWarning)
            trials = [study.ask() for _ in range(max(0, wanted))]
        for trial in trials:
            storage.record_heartbeat(trial_id(storage, study, trial.number))
    return trials
