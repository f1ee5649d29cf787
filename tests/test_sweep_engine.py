"""The sweep engine under kills and with several slots: every ended trial counted once, every
slot kept busy."""

import subprocess
import threading
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from blueprint.sweeps.contract import INTERRUPTED_TAG, ROLE_TAG, TRIAL_TAG
from blueprint.sweeps.slots import Slots
from blueprint.sweeps.study import (
    INTERRUPTIONS_ATTR,
    RETRY_ATTR,
    RequeueStale,
    ended_trials,
    given_up,
)
from blueprint.sweeps.study_store import open_storage
from tests.helpers import ROOT, clean_env, error_lines, run_sweep, sweep_cmd

BEATS = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


def only_study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db", create=False)
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def killed_sweep(tmp_path: Path, where: str, nth: int, *overrides: str) -> None:
    """The sweep, SIGKILLed at its `nth` trial (tests/killing_sweep.py)."""
    cmd = sweep_cmd(tmp_path, *overrides)
    cmd[1:3] = ["-m", "tests.killing_sweep", where, str(nth)]  # python -m blueprint.train ...
    result = subprocess.run(
        cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == -9, result.stdout + result.stderr


@pytest.mark.slow  # four sweep processes: about 50 s
def test_a_sweep_killed_again_and_again_finishes_with_exactly_n_trials(tmp_path: Path) -> None:
    """Killed between asking a trial and launching it, then at two trials as they train: each
    re-run of the same command goes on where the last stopped, the interrupted trials run again
    (not counted as failures, whatever max_failure_rate says), and the last one finishes."""
    sweep = ["hparams_search=random", "hydra.sweeper.n_trials=5", *BEATS]
    sweep += ["hydra.sweeper.max_failure_rate=0"]  # any counted failure would stop it
    killed_sweep(tmp_path, "ask", 1, *sweep)  # trial 0: asked, never launched
    killed_sweep(tmp_path, "fit", 2, *sweep)  # trial 0's retry ends; the next trial is killed
    killed_sweep(tmp_path, "fit", 3, *sweep)  # its retry and one more end; the next is killed
    result = run_sweep(tmp_path, *sweep)
    assert result.returncode == 0, result.stdout + result.stderr

    study = only_study(tmp_path)
    trials = study.get_trials()
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 3 and not given_up(study)
    assert [t.state for t in ended_trials(study)] == [TrialState.COMPLETE] * 5
    retries = {t.user_attrs[RETRY_ATTR]: t for t in trials if RETRY_ATTR in t.user_attrs}
    assert sorted(retries) == sorted(t.number for t in interrupted)  # each ran again, once
    for dead in interrupted:
        if dead.params:  # killed as it trained: the same point again (killed at ask: none yet)
            assert retries[dead.number].params == dead.params
    points = [tuple(sorted(t.params.items())) for t in ended_trials(study)]
    assert len(set(points)) == 5, "no point ran twice"

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get(ROLE_TAG) == "parent"]
    assert parent.info.status == "FINISHED"
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert len(killed) == 2  # the trial killed before launching had no run
    assert all(r.data.tags[INTERRUPTED_TAG] == "true" for r in killed)
    assert {r.data.tags[TRIAL_TAG] for r in killed} <= {str(t.number) for t in interrupted}
    assert not [r for r in runs if r.info.status in ("RUNNING", "FAILED")]


def test_a_point_interrupted_twice_in_a_row_is_given_up_and_counts(tmp_path: Path) -> None:
    """Interruptions are not failures, but a point whose re-run is interrupted again may be what
    kills its sweep: after `max_interruptions` in a row it is given up, FAIL, and counted."""
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db", create=True)
    study = optuna.create_study(study_name="s", storage=storage)
    requeue = RequeueStale(max_interruptions=2)
    first = study.ask()
    first.suggest_float("x", 0, 1)
    requeue(study, study.tell(first, state=TrialState.FAIL))  # its sweep was killed
    assert ended_trials(study) == [] and not given_up(study)
    retry = study.ask()
    assert retry.user_attrs == {RETRY_ATTR: first.number, INTERRUPTIONS_ATTR: 1}
    assert retry.suggest_float("x", 0, 1) == first.params["x"]
    requeue(study, study.tell(retry, state=TrialState.FAIL))  # killed again
    assert given_up(study) == {retry.number: 2}
    assert [t.number for t in ended_trials(study)] == [retry.number]
    assert not study.get_trials(states=(TrialState.WAITING,))  # not queued a third time
    assert requeue.take() == {first.number, retry.number}

    result = run_sweep(
        tmp_path,
        "optimizer.lr=1e-3,1e-2",
        "hydra.sweeper.study_name=s",
        "hydra.sweeper.max_failure_rate=0",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in error_lines(result) if "trials failed" in line]
    assert f"trial {retry.number} were interrupted" in line and "max_interruptions=2" in line
    assert "raised an error" not in line and "Launching" not in result.stdout


def test_a_slot_whose_trial_ends_takes_the_next_while_another_still_runs() -> None:
    """No batch barrier: each launch is a batch of one, so a freed slot is free at once."""
    long_one_may_end = threading.Event()

    def launch(overrides: list[str], job_idx: int) -> list[str]:
        if overrides == ["long"]:
            long_one_may_end.wait(10)
        if overrides == ["broken"]:
            raise RuntimeError("the launcher failed")
        return [f"job {job_idx}"]

    slots = Slots(launch, size=2)
    slots.start(0, ["long"], job_idx=0)
    slots.start(1, ["short"], job_idx=1)
    assert slots.free == 0
    assert slots.next_ended(timeout=10) == (1, "job 1")
    assert slots.free == 1 and slots.running == {0}
    slots.start(2, ["short"], job_idx=2)  # while trial 0 still runs
    assert slots.next_ended(timeout=10) == (2, "job 2")
    assert slots.next_ended(timeout=0.1) is None  # trial 0 still runs
    long_one_may_end.set()
    assert slots.next_ended(timeout=10) == (0, "job 0")
    slots.start(3, ["broken"], job_idx=3)
    with pytest.raises(RuntimeError, match="the launcher failed"):
        slots.next_ended(timeout=10)
    assert slots.free == 2


def test_one_slot_runs_its_trial_in_the_calling_thread() -> None:
    """The basic launcher trains in the sweep's process: Keras and Ctrl-C belong to its main
    thread."""
    threads = []
    slots = Slots(lambda overrides, idx: threads.append(threading.current_thread()) or [idx], 1)
    slots.start(0, [], job_idx=7)
    assert threads == [threading.current_thread()]
    assert slots.next_ended(timeout=0) == (0, 7)


@pytest.mark.slow  # a 4-point grid on two joblib workers: about 40 s
def test_parallel_slots_start_trials_while_a_long_one_runs(tmp_path: Path) -> None:
    """The seeded grid runs 2 and 80 epochs first: the slot that ran 2 takes 1, then 3, while
    80 still runs; in batch mode, neither would start before 80 ended."""
    sweep = [*sweep_cmd(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")]
    sweep = [arg for arg in sweep if arg != "trainer.epochs=2"]  # TINY's: it would fix epochs
    result = subprocess.run(
        [*sweep, "trainer.epochs=1,2,3,80"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    trials = {
        int(r.data.params["trainer.epochs"]): r.info for r in runs if TRIAL_TAG in r.data.tags
    }
    assert sorted(trials) == [1, 2, 3, 80]
    long_one = trials[80]
    for epochs in (1, 3):
        assert long_one.start_time < trials[epochs].start_time < long_one.end_time, (
            f"the {epochs}-epoch trial waited for the 80-epoch one (a batch barrier)"
        )
