"""Sweeps: grids from comma lists, resume after SIGKILL, failures, pruning, parallel trials, the
study listing and bad sweeper input. Every sweep writes into its own temporary stores."""

import functools
import gc
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hydra
import mlflow
import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from blueprint.errors import SweepError
from blueprint.sweeps.composed_once import ComposedOnce
from blueprint.sweeps.contract import (
    FIXED_ATTR,
    INTERRUPTED_TAG,
    REPEAT_TAG,
    REPEATS_ATTR,
    REUSED_ATTR,
    REUSED_TAG,
    RUN_ATTR,
    STUDY_TAG,
    TRIAL_TAG,
    TrialNode,
    quoted,
)
from blueprint.sweeps.grid import Grid, missing_points
from blueprint.sweeps.repeats import REDUCERS, Repeated
from blueprint.sweeps.study import (
    RETRY_ATTR,
    release,
    requeue_stale,
    study_name_for,
    take_trials,
)
from blueprint.sweeps.study_store import open_storage
from blueprint.sweeps.sweeper import plain_values
from blueprint.sweeps.trial import SweepTrial
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.training.warm_models import free_keras_state
from tests.helpers import (
    CONF_DIR,
    ROOT,
    TINY,
    clean_env,
    error_lines,
    on_host,
    run_sweep,
    run_train,
    sweep_cmd,
)


def list_studies(db: str) -> subprocess.CompletedProcess:
    """`python -m blueprint.sweeps` over the SQLite file `db`."""
    cmd = [sys.executable, "-m", "blueprint.sweeps", f"--storage=sqlite:///{db}"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def the_study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db", create=False)
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def runs(tmp_path: Path) -> tuple[mlflow.entities.Run, list[mlflow.entities.Run]]:
    """The sweep's one parent run and its child runs."""
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("default")
    every = client.search_runs([experiment.experiment_id], max_results=1000)
    (parent,) = [r for r in every if r.data.tags.get("sweep.role") == "parent"]
    children = [r for r in every if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(every) - 1, "every run but the parent nests under it"
    return parent, children


# --- no training ---------------------------------------------------------------------------


def test_study_name_follows_the_search_space() -> None:
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    wider = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    name = study_name_for("exp", {"optimizer.lr": lr}, ["model=mlp"])
    assert name == study_name_for("exp", {"optimizer.lr": lr}, ["model=mlp"])
    assert name.startswith("exp-")
    assert name != study_name_for("exp", {"optimizer.lr": wider}, ["model=mlp"])
    assert name != study_name_for("exp", {"optimizer.lr": lr}, ["model=cnn"])


def test_override_values_survive_hydra_quoting() -> None:
    assert plain_values({"a": r"sqlite\:////tmp/x.db", "+callbacks.mine._target_": "m.C"}) == {
        "a": "sqlite:////tmp/x.db",
        "callbacks.mine._target_": "m.C",  # `+` is not part of the key (nor of an MLflow param)
    }
    assert quoted("sqlite:////tmp/it's.db") == r"'sqlite:////tmp/it\'s.db'"
    assert quoted(None) == "null"
    assert quoted(3) == "3"


@pytest.mark.parametrize("option", ["grid", "tpe", "random"])
def test_search_configs_select_the_blueprint_sweeper(option: str) -> None:
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose("train", [f"hparams_search={option}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("blueprint_sweeper.BlueprintOptunaSweeper")
    assert sweeper.direction == cfg.objective.direction
    assert sweeper.sampler.seed == cfg.trainer.seed
    assert sweeper.params, "each recipe declares a search space"
    assert cfg.sweep is None  # single runs never see a trial


def test_every_multirun_defaults_to_the_blueprint_grid_and_basic_stays_available() -> None:
    with initialize_config_dir(str(CONF_DIR)):
        default = compose("train", return_hydra_config=True).hydra.sweeper
        basic = compose("train", ["hydra/sweeper=basic"], return_hydra_config=True).hydra.sweeper
    assert default._target_.endswith("blueprint_sweeper.BlueprintOptunaSweeper")
    assert default.sampler._target_ == "optuna.samplers.GridSampler"
    assert default.n_trials is None  # every grid point
    assert basic._target_.endswith("BasicSweeper")


def test_every_sweep_turns_the_collector_back_on_as_it_starts() -> None:
    # `python -m blueprint.train` starts with it off (blueprint/plumbing/collector.py); a sweep's
    # own process, which may train nothing itself, must not go on without it.
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose("train", return_hydra_config=True)
    (resume,) = [c for c in cfg.hydra.callbacks.values() if "Collector" in c._target_]
    gc.disable()
    try:
        hydra.utils.instantiate(resume).on_multirun_start(config=cfg)
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_plugin_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, hydra_plugins.blueprint_sweeper.blueprint_sweeper;"
        "print([m for m in ('optuna', 'mlflow', 'tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_pruner_is_one_line(tmp_path: Path) -> None:
    result = run_sweep(tmp_path, "hparams_search=tpe", "hydra.sweeper.pruner=bogus")
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "hydra.sweeper.pruner='bogus'" in line and "successive_halving" in line
    assert not (tmp_path / "mlflow.db").exists()


def test_corrupt_storage_is_one_line_for_sweep_and_listing(tmp_path: Path) -> None:
    (tmp_path / "optuna.db").write_bytes(os.urandom(4096))
    result = run_sweep(tmp_path, "hparams_search=tpe")
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "cannot open the Optuna storage" in line and "not a database" in line

    listing = list_studies(f"{tmp_path}/optuna.db")
    assert listing.returncode == 2
    (line,) = error_lines(listing)
    assert "not a database" in line
    missing = list_studies(f"{tmp_path}/none.db")
    assert missing.returncode == 2 and "no Optuna store" in missing.stderr
    assert not (tmp_path / "none.db").exists()  # listing never creates a store


def test_open_storage_reports_dead_servers_in_one_line() -> None:
    with pytest.raises(SweepError, match="cannot open the Optuna storage postgresql://"):
        open_storage("postgresql://nobody@127.0.0.1:9/none", create=True)


def test_a_fresh_store_opened_by_several_processes_at_once_opens_in_each(tmp_path: Path) -> None:
    """Four processes released together all set up (or find set up) the same fresh file."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from blueprint.sweeps.study_store import open_storage\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        "create = sys.argv[1] == 'create'\n"
        "try:\n"
        f"    open_storage({url!r}, create=create)\n"
        "except Exception as err:  # a reader may come before the file or its tables\n"
        "    if create or not str(err).startswith('no '): raise\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, role], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for role in ("create", "create", "create", "read")
    ]
    time.sleep(3)  # every process has imported Optuna and waits
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    storage = open_storage(url, create=False)
    assert optuna.get_all_study_names(storage) == []


def test_a_stale_trial_is_queued_again_once_and_a_released_one_at_once(tmp_path: Path) -> None:
    """Heartbeats: a trial whose sweep stopped beating is re-queued by exactly one of the sweeps
    that notice; a sweep stopped by Ctrl-C releases its trial without the grace period."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    sweeps = [open_storage(url, create=True, heartbeat_interval=1, grace_period=2) for _ in "ab"]
    study_a, study_b = (
        optuna.create_study(study_name="s", storage=st, load_if_exists=True) for st in sweeps
    )
    (stale,) = take_trials(study_a, sweeps[0], url, batch=1, n_trials=2)
    stale.suggest_float("x", 0, 1)
    assert requeue_stale(study_b, sweeps[1]) == set(), "its heartbeat is fresh"
    time.sleep(3)  # past the grace period, with no heartbeat since the trial was taken
    assert sorted([*requeue_stale(study_a, sweeps[0]), *requeue_stale(study_b, sweeps[1])]) == [0]
    (released,) = take_trials(study_b, sweeps[1], url, batch=1, n_trials=2)
    assert released.suggest_float("x", 0, 1) == stale.params["x"], "the same point again"
    assert release(study_b, sweeps[1], [released]) == {released.number}
    states = [(t.state, t.user_attrs.get(RETRY_ATTR)) for t in study_a.get_trials()]
    assert states == [(TrialState.FAIL, None), (TrialState.FAIL, 0), (TrialState.WAITING, 1)]


def test_two_sweeps_taking_grid_points_at_once_never_take_one_point_twice(
    tmp_path: Path,
) -> None:
    """A trial taken from the queue shows no parameters until its sweep draws them, after the
    store's lock is released: a sweep taking its trial in between must still see the point
    taken (CI once ran a grid point twice, and never its last one), and a sweep killed before
    drawing leaves that point to be queued again."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    sweeps = [open_storage(url, create=True, heartbeat_interval=1, grace_period=2) for _ in "ab"]
    studies = [optuna.create_study(study_name="s", storage=s, load_if_exists=True) for s in sweeps]
    grid = Grid({"x": [1, 2, 3]}, seed=0)
    xs = [point["x"] for point in grid.points()]
    missing = functools.partial(missing_points, grid=grid)
    killed, drawn = (
        take_trials(study, storage, url, batch=1, n_trials=3, missing=missing)[0]
        for study, storage in zip(studies, sweeps, strict=True)
    )  # neither has drawn its parameters yet
    assert drawn.suggest_categorical("x", xs) == xs[1], "the next point, not the one taken"
    studies[1].tell(drawn, 0.0)
    time.sleep(3)  # past the grace period of the sweep killed before drawing its point
    assert requeue_stale(studies[1], sweeps[1]) == {killed.number}
    (retry,) = take_trials(studies[1], sweeps[1], url, batch=1, n_trials=3, missing=missing)
    assert retry.suggest_categorical("x", xs) == xs[0], "the killed trial's point, again"
    assert [point["x"] for point in missing_points(studies[1], grid)] == [xs[2]]


def test_listing_beside_a_fresh_empty_file_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "optuna.db"
    store.touch()  # a sweep just created it and has not set up its tables yet
    listing = list_studies(str(store))
    assert listing.returncode == 0, listing.stderr
    assert "no studies yet" in listing.stdout
    assert store.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optuna.db"]


def test_a_sweep_store_pointed_at_another_programs_file_is_refused_untouched(
    tmp_path: Path,
) -> None:
    mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").create_experiment("default")
    before = (tmp_path / "mlflow.db").read_bytes()
    result = run_sweep(
        tmp_path, "optimizer.lr=1e-3,1e-2", f"hydra.sweeper.storage=sqlite:///{tmp_path}/mlflow.db"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "is not an Optuna store" in line and "hydra.sweeper.storage" in line
    assert (tmp_path / "mlflow.db").read_bytes() == before
    listing = list_studies(f"{tmp_path}/mlflow.db")
    assert listing.returncode == 2 and "--storage" in listing.stderr
    assert (tmp_path / "mlflow.db").read_bytes() == before


# --- sweeps that train ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp_path = tmp_path_factory.mktemp("grid")
    # no hparams_search: every --multirun is a blueprint grid over its comma lists
    overrides = ["optimizer.lr=1e-3,1e-2", "trainer.batch_size=32,64"]
    result = run_sweep(tmp_path, *overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path, " ".join(overrides)


def test_grid_from_comma_lists_runs_every_point_once(grid_sweep: tuple[Path, str]) -> None:
    tmp_path, _ = grid_sweep
    study = the_study(tmp_path)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    points = {(t.params["optimizer.lr"], t.params["trainer.batch_size"]) for t in trials}
    fixed = study.user_attrs[FIXED_ATTR]  # once on the study, as its name hashes them
    assert fixed["trainer.epochs"] == "2" and "tracking.uri" not in fixed, fixed
    assert not any("trainer.epochs" in t.user_attrs for t in trials)
    assert points == set(itertools.product([1e-3, 1e-2], [32, 64]))

    parent, children = runs(tmp_path)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweep.sampler"] == "grid"
    assert float(parent.data.metrics["best_value"]) == max(t.value for t in trials)
    numbers = sorted(int(r.data.tags["sweep.trial_number"]) for r in children)
    assert numbers == [0, 1, 2, 3]
    assert {r.data.tags["sweep.trial_state"] for r in children} == {"COMPLETE"}
    best_run = parent.data.tags["best.run_id"]  # leads to the winning child run
    (winner,) = [r for r in children if r.info.run_id == best_run]
    assert winner.data.tags["sweep.trial_number"] == parent.data.tags["best.trial"]
    for tag in ("git.commit", "command", "mlflow.source.name", "mlflow.source.type"):
        assert parent.data.tags[tag] == children[0].data.tags[tag], tag
    uri = parent.data.tags["fixed.tracking.uri"]  # where, not what: a tag
    assert uri == f"sqlite:///{tmp_path}/mlflow.db"  # as the runs read it, no Hydra escapes
    artifacts = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").list_artifacts(
        parent.info.run_id, "plots"
    )
    names = {Path(a.path).name for a in artifacts}
    assert {"optimization_history.png", "parallel_coordinate.png"} <= names


def test_a_trial_on_an_earlier_trials_model_learns_as_a_single_run(
    grid_sweep: tuple[Path, str], tmp_path: Path
) -> None:
    """Later trials in the sweep's process train the first trial's compiled model, TensorFlow's
    kernel cache kept (`blueprint.training.warm_models`): the last point, trained on its own,
    gives the same validation losses."""
    sweep_path, _ = grid_sweep
    last = max(the_study(sweep_path).trials, key=lambda t: t.number)
    point = [f"{key}={value}" for key, value in last.params.items()]
    result = run_train(tmp_path, *TINY, *point)
    assert result.returncode == 0, result.stderr

    def val_losses(store: Path, run_id: str) -> list[float]:
        client = mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db")
        history = client.get_metric_history(run_id, epoch_metric_key("val_loss"))
        return [m.value for m in sorted(history, key=lambda m: m.step)]

    (trial_run,) = [
        r for r in runs(sweep_path)[1] if r.data.tags["sweep.trial_number"] == str(last.number)
    ]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (single,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    expected = val_losses(tmp_path, single.info.run_id)
    assert len(expected) == 2
    assert val_losses(sweep_path, trial_run.info.run_id) == pytest.approx(expected, rel=1e-5)


def test_rerunning_a_finished_grid_runs_nothing(grid_sweep: tuple[Path, str]) -> None:
    tmp_path, overrides = grid_sweep
    result = run_sweep(tmp_path, *overrides.split())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Launching" not in result.stdout
    assert len(the_study(tmp_path).trials) == 4
    assert len(runs(tmp_path)[1]) == 4


def test_listing_shows_counts_best_value_and_params(grid_sweep: tuple[Path, str]) -> None:
    tmp_path, _ = grid_sweep
    result = list_studies(f"{tmp_path}/optuna.db")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    study = the_study(tmp_path)
    assert header.split()[:4] == ["study", "direction", "complete", "pruned"]
    assert row.split()[:4] == [study.study_name, "maximize", "4", "0"]
    assert f"{study.best_value:.4g}" in row
    assert f"optimizer.lr={study.best_params['optimizer.lr']}" in row


# Heartbeats every second, stale after 3 s: a dead sweep's trial is re-run within seconds.
BEATS = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_a_failed_trial_does_not_stop_the_sweep(tmp_path: Path) -> None:
    result = run_sweep(
        tmp_path,
        "hparams_search=grid",
        "optimizer.lr=1e-2,-1",
        "hydra.sweeper.max_failure_rate=0.5",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    states = sorted(t.state.name for t in the_study(tmp_path).trials)
    assert states == ["COMPLETE", "FAIL"]
    _, children = runs(tmp_path)
    (failed,) = [r for r in children if r.info.status == "FAILED"]
    assert failed.data.tags["sweep.trial_state"] == "FAIL"
    assert "optimizer.lr" in failed.data.tags["error"]


def test_max_failure_rate_stops_the_sweep(tmp_path: Path) -> None:
    result = run_sweep(
        tmp_path,
        "hparams_search=grid",
        "optimizer.lr=-1,-2,-3,-4",
        "hydra.sweeper.max_failure_rate=0.25",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = [line for line in error_lines(result) if "trials failed" in line]
    assert "2 of 2 trials failed" in line and "max_failure_rate=0.25" in line
    trials = the_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 2  # 1 of 4 allowed: stops at 2
    parent, children = runs(tmp_path)
    assert parent.info.status == "FAILED"
    assert [r.info.status for r in children] == ["FAILED"] * 2


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("hydra.sweeper.direction=sideways", "hydra.sweeper.direction"),
        ("optimizer.lr=interval(1e-4,1e-2)", "optimizer.lr"),
        ("optimizer.nosuchkey=1,2", "optimizer.nosuchkey"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials"),
        ("hydra.sweeper.max_failure_rate=2", "hydra.sweeper.max_failure_rate"),
        ("hydra.sweeper.grace_period=3", "hydra.sweeper.heartbeat_interval=5"),
        ("hydra.sweeper.repeats=0", "hydra.sweeper.repeats=0"),
        ("hydra.sweeper.repeat_reduce=max", "hydra.sweeper.repeat_reduce='max'"),
        # a PostgreSQL study store nobody serves (port 1): one line, nothing written
        ("hydra.sweeper.storage=postgresql+psycopg://u@127.0.0.1:1/db", "hydra.sweeper.storage"),
        # joblib launcher settings it cannot run: its own check, then joblib's
        ("hydra/launcher=joblib hydra.launcher.backend=threading", "backend 'threading'"),
        ("hydra/launcher=joblib hydra.launcher.require=sharedmem", "require == 'sharedmem'"),
    ],
)
def test_sweep_settings_are_checked_before_the_first_trial(
    tmp_path: Path, override: str, named: str
) -> None:
    result = run_sweep(tmp_path, "trainer.batch_size=32,64", *override.split())
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert named in line
    assert "Launching" not in result.stdout
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_a_point_that_cannot_compose_ends_fail(tmp_path: Path) -> None:
    """A grid point naming a missing config option ends FAIL (never RUNNING, so no re-queue
    loop). Points interrupted again and again: tests/test_sweep_engine.py."""
    result = run_sweep(
        tmp_path, "optimizer=adam,nosuchoptimizer", "hydra.sweeper.max_failure_rate=0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = the_study(tmp_path)
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "FAIL"]
    (failed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed.params["optimizer"] == "nosuchoptimizer"


@pytest.mark.slow  # two sweeps: about 30 s on a loaded machine
def test_a_resumed_sweep_in_a_fixed_directory_overwrites_no_trial_folder(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    first = run_sweep(
        tmp_path,
        "optimizer.lr=1e-3,1e-2",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.n_trials=1",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0"]
    overrides_0 = (sweep_dir / "0/.hydra/overrides.yaml").read_text()
    second = run_sweep(tmp_path, "optimizer.lr=1e-3,1e-2", f"hydra.sweep.dir={sweep_dir}")
    assert second.returncode == 0, second.stdout + second.stderr
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]
    assert (sweep_dir / "0/.hydra/overrides.yaml").read_text() == overrides_0
    assert len(the_study(tmp_path).trials) == 2


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_hydra_basic_sweeper_stays_available(tmp_path: Path) -> None:
    command = [
        a
        for a in sweep_cmd(tmp_path, "optimizer.lr=1e-3,1e-2")
        if not a.startswith("hydra.sweeper.")
    ]
    result = subprocess.run(
        [*command, "hydra/sweeper=basic"], cwd=ROOT, env=clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "optuna.db").exists()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("default")
    every = client.search_runs([experiment.experiment_id])
    assert len(every) == 2 and not any("sweep.role" in r.data.tags for r in every)


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_a_pruned_trial_ends_pruned_in_optuna_and_mlflow(tmp_path: Path) -> None:
    # Seeded grid order: lr=1e-2 (learns fast) runs first, then lr=1e-4, which the median
    # pruner stops after its first epoch.
    result = run_sweep(
        tmp_path,
        "hparams_search=grid",
        "optimizer.lr=1e-4,1e-2",
        "trainer.epochs=3",
        "hydra.sweeper.pruner=median",
        "+hydra.sweeper.pruner_kwargs.n_startup_trials=1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = the_study(tmp_path).trials
    assert first.params["optimizer.lr"] == 1e-2, "the seeded grid order changed"
    assert first.state == TrialState.COMPLETE and len(first.intermediate_values) == 3
    assert second.state == TrialState.PRUNED
    assert list(second.intermediate_values) == [0]

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    _, children = runs(tmp_path)
    (pruned,) = [r for r in children if r.data.tags["sweep.trial_number"] == "1"]
    assert pruned.info.status == "FINISHED"
    assert pruned.data.tags["sweep.trial_state"] == "PRUNED"
    assert len(client.get_metric_history(pruned.info.run_id, epoch_metric_key("val_accuracy"))) == 1


@pytest.mark.slow
def test_parallel_trials_all_finish_and_are_tracked(tmp_path: Path) -> None:
    result = run_sweep(
        tmp_path,
        "hparams_search=random",
        "hydra.sweeper.n_trials=4",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "database is locked" not in output
    trials = the_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    _, children = runs(tmp_path)
    assert sorted(int(r.data.tags["sweep.trial_number"]) for r in children) == list(range(4))
    assert {r.info.status for r in children} == {"FINISHED"}
    cpus = os.cpu_count() or 1
    assert {r.data.tags["sweep.threads"] for r in children} == {str(max(1, cpus // 2))}


# --- grids that grow ------------------------------------------------------------------------


def grid_copy(grid_sweep: tuple[Path, str], tmp_path: Path) -> Path:
    """The finished 2x2 grid's stores, copied for a test that changes them."""
    for name in ("optuna.db", "mlflow.db"):
        shutil.copy(grid_sweep[0] / name, tmp_path / name)
    return tmp_path


def study_named(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


def grid_studies(tmp_path: Path) -> list[str]:
    return optuna.get_all_study_names(f"sqlite:///{tmp_path}/optuna.db")


@pytest.mark.slow  # a 2x2 grid, then its grown version: about 40 s
def test_a_grown_grid_runs_only_its_new_points(
    grid_sweep: tuple[Path, str], tmp_path: Path
) -> None:
    tmp = grid_copy(grid_sweep, tmp_path)
    result = run_sweep(tmp, "optimizer.lr=1e-3,1e-2,1e-1", "trainer.batch_size=32,64")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grid grew by 2 points; 4 finished points reused" in result.stdout + result.stderr
    first, grown = grid_studies(tmp)
    assert len(study_named(tmp, first).trials) == 4, "the first grid is left as it was"
    trials = study_named(tmp, grown).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 6, "every point once"
    reused = [t for t in trials if REUSED_ATTR in t.user_attrs]
    assert len(reused) == 4 and {t.params["optimizer.lr"] for t in trials if t not in reused} == {
        0.1
    }
    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    every = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    parents = {r.data.tags[STUDY_TAG]: r for r in every if r.data.tags.get("sweep.role")}
    children = [r for r in every if "sweep.role" not in r.data.tags]
    assert len(children) == 6, "two new trainings, the four others reused"
    nested = [
        r for r in children if r.data.tags["mlflow.parentRunId"] == parents[grown].info.run_id
    ]
    assert len(nested) == 6, "the grown grid's run shows the whole grid"
    assert sum(REUSED_TAG in r.data.tags for r in nested) == 4


@pytest.mark.slow  # three sweeps that train nothing or one point: about 30 s
def test_a_shrunk_grid_runs_nothing_and_a_new_parameter_starts_anew(
    grid_sweep: tuple[Path, str], tmp_path: Path
) -> None:
    tmp = grid_copy(grid_sweep, tmp_path)
    (first,) = grid_studies(tmp)
    again = run_sweep(tmp, *grid_sweep[1].split())
    assert again.returncode == 0 and "Launching" not in again.stdout + again.stderr
    assert f"resuming grid {first}: 4 of 4 points ended" in again.stdout + again.stderr
    # choice(): one value left, still a dimension of the grid (a bare value is a fixed override)
    shrunk = run_sweep(tmp, "optimizer.lr=choice(1e-3)", "trainer.batch_size=32,64")
    output = shrunk.stdout + shrunk.stderr
    assert shrunk.returncode == 0 and "Launching" not in output, output
    assert (
        f"grid dropped 2 points (their trials stay in {first}); 2 finished points reused" in output
    )
    assert len(study_named(tmp, first).trials) == 4, "the dropped points' trials are kept"

    wider = run_sweep(
        tmp, *grid_sweep[1].split(), "model.dropout=0.0,0.5", "hydra.sweeper.n_trials=1"
    )
    output = wider.stdout + wider.stderr
    assert wider.returncode == 0, output
    assert "no earlier grid with these parameters and fixed overrides" in output
    assert output.count("Launching") == 1


@pytest.mark.slow  # a grid, then two sweeps on its grown version, one killed: about 60 s
def test_two_hosts_grow_a_grid_and_rerun_only_the_killed_trial(tmp_path: Path) -> None:
    """Two sweep processes under different host names run one grown grid. Neither takes the
    other's running trial for dead; once one is killed, the other re-runs its trial, and only
    that one: every new point runs once, the reused ones never."""
    assert (
        subprocess.run(
            on_host("machine-a", ["hostname"]), capture_output=True, text=True
        ).stdout.strip()
        == "machine-a"
    )
    slow = ["trainer.batch_size=16,32", "trainer.epochs=30"]  # trials outlasting the grace period
    first = run_sweep(tmp_path, "optimizer.lr=choice(1e-3)", *slow)
    assert first.returncode == 0, first.stdout + first.stderr
    grown = ["optimizer.lr=1e-3,1e-2,3e-3", *slow]
    a, b = (
        subprocess.Popen(
            on_host(host, sweep_cmd(tmp_path, *grown, *BEATS)),
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for host in ("machine-a", "machine-b")
    )
    try:
        deadline = time.monotonic() + 180
        while len(trials_in(tmp_path, TrialState.RUNNING)) < 2:  # one trial each, at once
            assert a.poll() is None and b.poll() is None, "a sweep ended too early"
            assert time.monotonic() < deadline, "the two sweeps never ran trials at once"
            time.sleep(0.2)
        time.sleep(4)  # past the grace period: neither took the other's trial for dead
        assert not trials_in(tmp_path, TrialState.FAIL)
        # kill while every running trial has its MLflow run, which the kill must leave KILLED
        while not all_attached(trials_in(tmp_path, TrialState.RUNNING)):
            assert a.poll() is None, "the sweep to kill ended too early"
            time.sleep(0.05)
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
    out, _ = b.communicate(timeout=300)
    assert b.returncode == 0, out
    trials = trials_in(tmp_path)
    (dead,) = [t for t in trials if t.state == TrialState.FAIL]
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == dead.number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6 and len(trials) == 7
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6, "no point ran twice"
    assert sum(REUSED_ATTR in t.user_attrs for t in complete) == 2

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    study = grid_studies(tmp_path)[-1]
    (killed,) = client.search_runs(
        [client.get_experiment_by_name("default").experiment_id],
        f"tags.`{TRIAL_TAG}` = '{dead.number}' and tags.`{STUDY_TAG}` = '{study}'",
    )
    assert killed.info.status == "KILLED" and killed.data.tags[INTERRUPTED_TAG] == "true"
    assert killed.info.run_id == dead.user_attrs["mlflow_run_id"]


def all_attached(running: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether both sweeps are inside a trial whose MLflow run exists."""
    return len(running) == 2 and all(RUN_ATTR in t.user_attrs for t in running)


def trials_in(tmp_path: Path, *states: TrialState) -> list[optuna.trial.FrozenTrial]:
    """The trials of the newest study in `tmp_path`, in these states (all if none)."""
    try:
        name = grid_studies(tmp_path)[-1]
        return study_named(tmp_path, name).get_trials(states=states or None)
    except (SweepError, ValueError, KeyError):  # not created yet
        return []


def test_a_finished_trials_training_graph_is_freed() -> None:
    """TensorFlow's process-wide registry of custom gradients kept each in-process trial's
    training step (and its model) alive; freeing the trial's Keras state drops them."""
    import gc
    import weakref

    import keras
    import numpy as np
    from tensorflow.python.framework import ops

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)
    registry = ops._gradient_registry._registry
    assert any(name.startswith("CustomGradient-") for name in registry), "nothing registered"
    trained = weakref.ref(model)
    del model
    free_keras_state()
    gc.collect()
    assert not any(name.startswith("CustomGradient-") for name in registry)
    assert trained() is None, "the trial's model outlived it"


def test_the_launcher_is_handed_the_config_the_sweeper_composed_once() -> None:
    composed: list[list[str]] = []

    class Loader:  # the one method a launcher calls
        def load_sweep_config(self, master: DictConfig, overrides: list[str]) -> DictConfig:
            composed.append(overrides)
            return OmegaConf.create({"overrides": overrides})

    loader = ComposedOnce(Loader())  # type: ignore[arg-type]
    master, checked = OmegaConf.create(), OmegaConf.create({"checked": True})
    loader.keep(["a=1"], checked)
    assert loader.load_sweep_config(master, ["a=1"]) is checked and not composed
    assert loader.load_sweep_config(master, ["a=1"]).overrides == ["a=1"]  # handed out once
    loader.keep(["b=2"], checked)
    loader.keep(["c=3"], checked)  # another slot's trial, launching meanwhile
    loader.forget(["b=2"])  # its launcher composed in its workers
    assert loader.load_sweep_config(master, ["b=2"]) is not checked
    assert loader.load_sweep_config(master, ["c=3"]) is checked
    assert composed == [["a=1"], ["b=2"]]


def test_a_launcher_pickling_its_loader_sends_no_kept_config() -> None:
    # submitit pickles the launcher, its loader included, while another slot's thread keeps
    # configs in it: the kept ones must not go along ("dictionary changed size" otherwise)
    import cloudpickle

    class Loader:
        def load_sweep_config(self, master: DictConfig, overrides: list[str]) -> DictConfig:
            return OmegaConf.create({"composed": True})

    loader = ComposedOnce(Loader())  # type: ignore[arg-type]
    loader.keep(["a=1"], OmegaConf.create({"kept": True}))
    sent = cloudpickle.loads(cloudpickle.dumps(loader))
    assert sent.load_sweep_config(OmegaConf.create(), ["a=1"]).get("composed")
    assert loader.load_sweep_config(OmegaConf.create(), ["a=1"]).get("kept")  # still here


# --- repeats: each point trained over several seeds -----------------------------------------


def repeat_runs(tmp_path: Path) -> dict[mlflow.entities.Run, list[mlflow.entities.Run]]:
    """Each trial's run (under the sweep's run) with the runs of its repeats (under it)."""
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    every = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    (parent,) = [r for r in every if r.data.tags.get("sweep.role") == "parent"]
    under = {
        run.info.run_id: [
            r for r in every if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
        ]
        for run in every
    }
    trial_runs = under[parent.info.run_id]
    assert 1 + len(trial_runs) + sum(len(under[r.info.run_id]) for r in trial_runs) == len(every)
    return {run: under[run.info.run_id] for run in trial_runs}


def test_a_trial_trained_once_is_told_no_repeat_keys() -> None:
    node = TrialNode(study="s", storage="sqlite://", trial=0, parent_run_id="p", threads=None)
    assert "repeat" not in node.override()
    repeated = node.model_copy(update={"repeats": 3, "repeat_reduce": "median"})
    assert "repeats:3" in repeated.override() and "repeat_reduce:'median'" in repeated.override()


def test_a_trial_asks_whether_it_leads_against_one_best_so_far(tmp_path: Path) -> None:
    # its evaluation pictures and its logged model follow one answer, though another slot's
    # trial may end between the two questions
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(
        study_name="s", storage=open_storage(url, create=True), direction="maximize"
    )
    running = study.ask()
    study.tell(study.ask(), 0.5)
    node = {
        "study": "s",
        "storage": url,
        "trial": running.number,
        "parent_run_id": "p",
        "threads": None,
    }
    cfg = OmegaConf.create({"sweep": node, "objective": {"metric": "val_accuracy"}})
    trial = SweepTrial(cfg)
    assert trial.beats_best(0.6) and not trial.beats_best(0.4)
    study.tell(study.ask(), 0.9)  # another slot's trial ends meanwhile
    assert trial.beats_best(0.6)  # against the best as it first asked
    assert not SweepTrial(cfg).beats_best(0.6)  # a later trial asks against 0.9


def test_repeated_values_reduce_by_mean_or_median_and_show_their_spread() -> None:
    values = [0.5, 0.6, 0.9]
    mean, median = Repeated("mean", [1, 2, 3], values), Repeated("median", [1, 2, 3], values)
    assert mean.value == pytest.approx(2 / 3) and median.value == 0.6
    assert mean.std == pytest.approx(0.2081666)  # the sample (n - 1) standard deviation
    assert median.shown() == "0.6 ± 0.21 (median of 3 seeds)"


@pytest.fixture(scope="module")
def repeated_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("repeats")
    result = run_sweep(tmp_path, "optimizer.lr=1e-3,1e-2", "hydra.sweeper.repeats=2")
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path


def test_repeats_train_each_point_per_seed_under_one_trial(repeated_grid: Path) -> None:
    trials = the_study(repeated_grid).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2  # a grid counts points
    by_run = {t.user_attrs[RUN_ATTR]: t for t in trials}
    runs_of = repeat_runs(repeated_grid)
    assert {r.info.run_id for r in runs_of} == set(by_run)
    for trial_run, repeats in runs_of.items():
        trial = by_run[trial_run.info.run_id]
        repeats.sort(key=lambda r: int(r.data.tags[REPEAT_TAG]))
        seeds = [int(r.data.params["trainer.seed"]) for r in repeats]
        assert seeds == [42, 43] and trial_run.data.params["trainer.seed"] == "42"
        assert {r.data.params["optimizer.lr"] for r in repeats} == {
            trial_run.data.params["optimizer.lr"]
        }
        values = [r.data.metrics["best_val_accuracy"] for r in repeats]
        assert trial.value == pytest.approx(REDUCERS["mean"](values))
        assert trial_run.data.metrics["best_val_accuracy"] == pytest.approx(trial.value)
        std = trial_run.data.metrics["best_val_accuracy_std"]
        assert std == pytest.approx(Repeated("mean", seeds, values).std)
        assert trial.user_attrs[REPEATS_ATTR] == {
            "reduce": "mean",
            "seeds": seeds,
            "values": pytest.approx(values),
            "std": pytest.approx(std),
        }
        assert trial_run.data.tags["sweep.trial_state"] == "COMPLETE"
        assert all(r.data.tags[TRIAL_TAG] == str(trial.number) for r in repeats)
        assert len(trial.intermediate_values) == 2, "the first repeat's epochs, reported once"


def test_the_sweep_summary_and_listing_show_the_best_points_spread(repeated_grid: Path) -> None:
    study = the_study(repeated_grid)
    shown = f"{study.best_value:.4g} ± {study.best_trial.user_attrs[REPEATS_ATTR]['std']:.2g}"
    client = mlflow.MlflowClient(f"sqlite:///{repeated_grid}/mlflow.db")
    experiment = client.get_experiment_by_name("default").experiment_id
    (parent,) = client.search_runs([experiment], "tags.`sweep.role` = 'parent'")
    assert parent.data.tags["best.value"].startswith(shown)
    assert "best_value_std" in parent.data.metrics
    listing = list_studies(f"{repeated_grid}/optuna.db")
    assert listing.returncode == 0, listing.stderr
    assert f"{shown} (mean of 2 seeds)" in listing.stdout


@pytest.mark.slow  # a 2-point grid over 2 seeds, 3 epochs each: about 40 s
def test_the_first_repeat_prunes_its_trial_and_the_others_are_skipped(tmp_path: Path) -> None:
    result = run_sweep(
        tmp_path,
        "optimizer.lr=1e-4,1e-2",
        "trainer.epochs=3",
        "hydra.sweeper.repeats=2",
        "hydra.sweeper.pruner=median",
        "+hydra.sweeper.pruner_kwargs.n_startup_trials=1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = the_study(tmp_path).trials
    assert first.params["optimizer.lr"] == 1e-2, "the seeded grid order changed"
    assert first.state == TrialState.COMPLETE and len(first.intermediate_values) == 3
    assert second.state == TrialState.PRUNED and list(second.intermediate_values) == [0]
    runs_of = {run.data.tags[TRIAL_TAG]: repeats for run, repeats in repeat_runs(tmp_path).items()}
    assert len(runs_of["0"]) == 2
    (pruned,) = runs_of["1"]  # its second seed never ran
    assert pruned.data.tags["sweep.trial_state"] == "PRUNED"


@pytest.mark.slow  # one point over 3 seeds
def test_repeat_reduce_median_gives_the_trial_its_repeats_median(tmp_path: Path) -> None:
    result = run_sweep(
        tmp_path,
        "optimizer.lr=choice(1e-3)",
        "hydra.sweeper.repeats=3",
        "hydra.sweeper.repeat_reduce=median",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (trial,) = the_study(tmp_path).trials
    ((trial_run, repeats),) = repeat_runs(tmp_path).items()
    values = [r.data.metrics["best_val_accuracy"] for r in repeats]
    assert sorted(int(r.data.params["trainer.seed"]) for r in repeats) == [42, 43, 44]
    assert trial.value == pytest.approx(REDUCERS["median"](values))
    assert trial.user_attrs[REPEATS_ATTR]["reduce"] == "median"
    assert "sweep.repeats" in trial_run.data.tags


def test_only_trials_beating_the_best_so_far_draw_evaluation_pictures_and_log_models(
    tmp_path: Path,
) -> None:
    # Four points of differing quality: each trial draws the pictures and logs its model exactly
    # when it beats those before; the others say so in a tag and keep their checkpoint.
    result = run_sweep(
        tmp_path,
        "hparams_search=grid",
        "optimizer.lr=1e-4,1e-2",
        "trainer.seed=0,1",
        "diagnostics=default",
        "diagnostics.diagram=false",
        "tracking.log_model=true",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = the_study(tmp_path)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent, children = runs(tmp_path)
    logged = client.search_logged_models([parent.info.experiment_id])
    with_model = {m.source_run_id for m in logged}
    best_so_far = float("-inf")
    for run in sorted(children, key=lambda r: int(r.data.tags["sweep.trial_number"])):
        value = study.trials[int(run.data.tags["sweep.trial_number"])].value
        files = {a.path for a in client.list_artifacts(run.info.run_id, "diagnostics")}
        drew = "diagnostics/confusion_matrix.png" in files
        beats = value > best_so_far
        assert drew == beats, (value, best_so_far, files)
        assert ("diagnostics.evaluation" in run.data.tags) == (not drew)
        assert (run.info.run_id in with_model) == beats, (value, best_so_far)
        assert ("tracking.model" in run.data.tags) == (not beats)
        checkpoint = Path(run.data.tags["paths.output_dir"]) / "checkpoints" / "best.keras"
        assert checkpoint.is_file(), "a trial without a logged model keeps its checkpoint"
        best_so_far = max(best_so_far, value)
    assert any("diagnostics.evaluation" in r.data.tags for r in children), "no trial skipped"
    assert len(with_model) < len(children), "every trial logged its model"
