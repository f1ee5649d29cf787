"""No password in any record: a sweep whose study store (PostgreSQL, password-protected) and
tracking server (MLflow basic-auth) both carry a password in their URLs leaves neither in MLflow,
in the files under multirun/ and experiments/, in what it prints, or on a trial's command line."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import mlflow
import pytest

from blueprint.credentials import masked, store_reference, study_store, tracking_uri
from blueprint.errors import SweepError
from tests.helpers import ROOT, TINY, assert_one_line_error, clean_env, run_train, store_overrides
from tests.servers import mlflow_server, postgres_server

DB_PASSWORD = "db-Secret-4711"
MLFLOW_PASSWORD = "mlflow-Secret-0815"


def test_masked_hides_every_url_password() -> None:
    text = "postgresql+psycopg://u:p%40ss@db:5432/x and 'http://bob:pw@h:5000/' sqlite:///a/b"
    assert masked(text) == "postgresql+psycopg://u:***@db:5432/x and 'http://bob:***@h:5000/' " + (
        "sqlite:///a/b"
    )


def test_trial_gets_store_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference holds no password; the trial fills it in from BLUEPRINT_STUDY_STORE, and
    without it says so in one line."""
    url = "postgresql+psycopg://u:pw@db:5432/optuna"
    monkeypatch.delenv("BLUEPRINT_STUDY_STORE", raising=False)
    reference = store_reference(url)
    assert reference == "postgresql+psycopg://u:***@db:5432/optuna"
    assert study_store(reference) == url  # the sweep put it in the environment for its trials
    monkeypatch.setenv("BLUEPRINT_STUDY_STORE", "postgresql+psycopg://u:pw@other:5432/optuna")
    with pytest.raises(SweepError, match="BLUEPRINT_STUDY_STORE"):
        study_store(reference)
    assert study_store("sqlite:///x/optuna.db") == "sqlite:///x/optuna.db"


def test_tracking_uri_credentials_move_to_mlflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert tracking_uri("http://bob:s%2Fcret@host:5000/") == "http://host:5000/"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bob"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s/cret"
    assert tracking_uri("sqlite:///x/mlflow.db") == "sqlite:///x/mlflow.db"


@pytest.mark.parametrize(
    "uri",
    ["postgresql+psycopg://u:{pw}@127.0.0.1:1/mlflow", "http://u:{pw}@127.0.0.1:1"],
    ids=["database", "server"],
)
def test_a_dead_store_is_one_line_without_its_password(tmp_path: Path, uri: str) -> None:
    """Nothing listens on port 1: the line names the store, its password masked."""
    result = run_train(tmp_path, *TINY, f"tracking.uri={uri.format(pw=DB_PASSWORD)}")
    assert_one_line_error(result, uri.format(pw="***"), "tracking.uri")
    assert DB_PASSWORD not in result.stdout + result.stderr


def command_lines_with(secrets: tuple[str, ...], stop: threading.Event, found: list[str]) -> None:
    """Polls every process's command line until `stop`, noting those that hold a secret."""
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found += [line for secret in secrets if secret in line]
        stop.wait(0.2)


def records(client: mlflow.MlflowClient, run: mlflow.entities.Run, into: Path) -> str:
    """A run's params, tags and every artifact's text."""
    data = run.data
    text = "\n".join(f"{k}={v}" for k, v in {**data.params, **data.tags}.items())
    folder = Path(client.download_artifacts(run.info.run_id, "", str(into)))
    files = [f for f in folder.rglob("*") if f.is_file()]
    return text + "\n".join(f.read_bytes().decode(errors="replace") for f in files)


@pytest.mark.slow  # PostgreSQL, an MLflow server and a 2-trial sweep: about 2 minutes
def test_sweep_leaves_no_password_anywhere(tmp_path: Path) -> None:
    admin = {"MLFLOW_AUTH_ADMIN_PASSWORD": MLFLOW_PASSWORD}
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with (
        postgres_server(password=DB_PASSWORD) as store_url,
        mlflow_server(server_dir, None, "--auth", env=admin) as server,
    ):
        assert DB_PASSWORD in store_url
        tracking = server.replace("http://", f"http://admin:{MLFLOW_PASSWORD}@")
        env = {**clean_env(), "BLUEPRINT_STUDY_STORE": store_url, "MLFLOW_TRACKING_URI": tracking}
        env.pop("MLFLOW_TRACKING_USERNAME", None)
        env.pop("MLFLOW_TRACKING_PASSWORD", None)
        local = [o for o in store_overrides(tmp_path) if not o.startswith("tracking.uri=")]
        cmd = [sys.executable, "-m", "blueprint.train", "--multirun", *local, *TINY]
        cmd += ["study_store=postgres", "hydra/launcher=joblib", "optimizer.lr=1e-3,1e-2"]
        stop, on_command_lines = threading.Event(), []
        watcher = threading.Thread(
            target=command_lines_with, args=((DB_PASSWORD, MLFLOW_PASSWORD), stop, on_command_lines)
        )
        watcher.start()
        try:
            sweep = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
            )
        finally:
            stop.set()
            watcher.join()
        assert sweep.returncode == 0, sweep.stderr[-3000:]
        printed = sweep.stdout + sweep.stderr
        assert "Launching" in printed and "***" in printed  # the trials' store, masked

        with pytest.MonkeyPatch.context() as login:
            login.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            login.setenv("MLFLOW_TRACKING_PASSWORD", MLFLOW_PASSWORD)
            client = mlflow.MlflowClient(server)
            (experiment,) = client.search_experiments(filter_string="name = 'default'")
            runs = client.search_runs([experiment.experiment_id])
            assert len(runs) == 3  # the sweep's run and its two trials
            logged = [
                records(client, run, tmp_path / "artifacts" / str(i)) for i, run in enumerate(runs)
            ]
    for secret in (DB_PASSWORD, MLFLOW_PASSWORD):
        assert secret not in printed
        assert not [line for line in on_command_lines if secret in line]
        for text in logged:
            assert secret not in text
        for folder in (tmp_path / "multirun", tmp_path / "run", tmp_path / "server"):
            for file in (f for f in folder.rglob("*") if f.is_file()):
                assert secret.encode() not in file.read_bytes(), file
    assert any("postgresql+psycopg://blueprint:***@" in text for text in logged)
