"""A team's server as `make server` starts it, on loopback: it answers the host names its clients
use and refuses others, and asks everyone who they are (MLflow's basic-auth login)."""

import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from streamlit.testing.v1 import AppTest

from blueprint.ui import host_headers
from tests.helpers import APP, ROOT, TINY, assert_one_line_error, clean_env, store_overrides
from tests.servers import mlflow_server

ADMIN_PASSWORD = "admin-password-for-tests"
ALICE = ("alice", "alice-password-1")  # a team member
VIEWER = ("viewer", "viewer-password-1")  # a read-only account (the server's default: READ)


def status(url: str, host: str, login: tuple[str, str] | None = None, method: str = "GET") -> int:
    """The HTTP status `url` answers to a request carrying `Host: host` (and a login)."""
    request = urllib.request.Request(url, method=method, headers={"Host": host})
    if login:
        token = b64encode(":".join(login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server, known as tracking-host and localhost (127.0.0.1 is not listed), with logins;
    alice and viewer have accounts. Yields its URL by the name localhost."""
    store = tmp_path_factory.mktemp("server")
    flags = ("--auth", "--allowed-hosts=tracking-host,localhost")
    with mlflow_server(store, None, *flags, env={"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}):
        pass  # the first start made the admin; the second must start without the password
    with mlflow_server(store, None, *flags) as url:
        url = url.replace("127.0.0.1", "localhost")
        from mlflow.server import get_app_client

        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            env.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
            users = get_app_client("basic-auth", tracking_uri=url)
            for name, password in (ALICE, VIEWER):
                users.create_user(name, password)
        yield url


def login_env(login: tuple[str, str] | None, url: str) -> dict[str, str]:
    """This process's environment pointing MLflow at `url` as `login` (None: nobody)."""
    env = {**clean_env(), "MLFLOW_TRACKING_URI": url}
    env.pop("MLFLOW_TRACKING_USERNAME", None)
    env.pop("MLFLOW_TRACKING_PASSWORD", None)
    if login:
        env.update(MLFLOW_TRACKING_USERNAME=login[0], MLFLOW_TRACKING_PASSWORD=login[1])
    return env


def run_against(
    tmp: Path, url: str, login: tuple[str, str], *args: str
) -> subprocess.CompletedProcess:
    """blueprint.train with `args`, logging to the server at `url` as `login`."""
    local = [o for o in store_overrides(tmp) if not o.startswith("tracking.uri=")]
    return subprocess.run(
        [sys.executable, "-m", "blueprint.train", *local, *TINY, *args],
        cwd=ROOT,
        env=login_env(login, url),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_host_headers_expand_plain_names() -> None:
    """A plain name is accepted as clients send it (name:port) and as a proxy sends it (name)."""
    assert host_headers("tracking-host, *.team.org,10.0.0.5:80", 5000) == [
        "tracking-host",
        "tracking-host:5000",
        "*.team.org",
        "10.0.0.5:80",
    ]


@pytest.mark.slow  # a tracking server started twice: about 40 s
def test_listed_hosts_get_through_and_logins_are_asked(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    search = f"{server}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status(search, f"tracking-host:{port}", ALICE) == 200
    assert status(search, f"localhost:{port}", ALICE) == 200
    assert status(search, f"elsewhere:{port}", ALICE) == 403  # not a name it was given
    assert status(search, f"127.0.0.1:{port}", ALICE) == 403  # nor this one
    assert status(search, f"tracking-host:{port}") == 401  # nobody signed in
    assert status(search, f"tracking-host:{port}", (ALICE[0], "wrong-password")) == 401


@pytest.mark.slow  # a sweep through the server: about 40 s
def test_a_signed_in_sweep_logs_and_a_wrong_password_writes_nothing(
    server: str, tmp_path: Path
) -> None:
    """A run and a sweep with a wrong password stop with one line before writing anything;
    signed in, the sweep's parent and trials (each a run as a single run logs it) finish."""
    wrong = run_against(tmp_path / "wrong", server, (ALICE[0], "not-her-password"))
    assert_one_line_error(wrong, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    sweep = ["--multirun", f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db"]
    refused = run_against(
        tmp_path, server, (VIEWER[0], "wrong-password"), *sweep, "optimizer.lr=1e-3,1e-2"
    )
    assert_one_line_error(refused, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    assert not (tmp_path / "optuna.db").exists(), "a refused sweep wrote its study"

    swept = run_against(
        tmp_path, server, ALICE, "experiment_name=team", *sweep, "optimizer.lr=1e-3,1e-2"
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", ALICE[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", ALICE[1])
        client = mlflow.MlflowClient(server)
        team = client.get_experiment_by_name("team")
        runs = client.search_runs([team.experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3  # the parent, 2 trials


@pytest.mark.slow  # shares the server above
def test_read_only_user_reads_but_cannot_write(server: str) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", ALICE[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", ALICE[1])
        experiment_id = mlflow.MlflowClient(server).create_experiment("alice-only")
        env.setenv("MLFLOW_TRACKING_USERNAME", VIEWER[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", VIEWER[1])
        viewer = mlflow.MlflowClient(server)
        assert viewer.get_experiment(experiment_id).name == "alice-only"
        with pytest.raises(MlflowException, match=r"403|PERMISSION_DENIED"):
            viewer.create_run(experiment_id)


@pytest.mark.slow  # shares the server above
@pytest.mark.parametrize("login", [None, (ALICE[0], "wrong-password")], ids=["none", "wrong"])
def test_make_runs_without_a_valid_login_is_one_line(
    server: str, login: tuple[str, str] | None
) -> None:
    """`make runs` (python -m blueprint.runs) against the server: one line naming the
    variables, exit status 2; signed in, it lists the runs."""
    runs = [sys.executable, "-m", "blueprint.runs"]
    refused = subprocess.run(
        runs, cwd=ROOT, env=login_env(login, server), capture_output=True, text=True, timeout=120
    )
    assert_one_line_error(refused, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    listed = subprocess.run(
        runs, cwd=ROOT, env=login_env(ALICE, server), capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr[-3000:]


@pytest.mark.slow  # shares the server above
@pytest.mark.parametrize("page", ["pages/train.py", "pages/try_model.py", "pages/sweeps.py"])
def test_app_without_a_valid_login_shows_one_line(
    server: str, page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page of the app (`make app`) on the server with a wrong password: one error line
    naming the variables, no traceback."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ALICE[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    local = [o for o in store_overrides(tmp_path) if not o.startswith("tracking.uri=")]
    monkeypatch.setattr(sys, "argv", ["main.py", *local, f"tracking.uri={server}"])
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "MLFLOW_TRACKING_USERNAME" in error.value and "MLFLOW_TRACKING_PASSWORD" in error.value
