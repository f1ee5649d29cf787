"""Real servers the tests start on 127.0.0.1 and stop again: PostgreSQL (from the OS packages), a
Ray head, an MLflow tracking server, the trainer app and Optuna Dashboard. Each is a context
manager yielding the address to use.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, clean_env, free_port


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs; installs Debian's `postgresql` package where
    it is missing and this process may (root with apt-get), else skips the test with the reason."""
    for _ in range(2):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if found:
            return Path(found[-1]).parent
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            break
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
            capture_output=True,
        )
    pytest.skip("PostgreSQL is not installed and cannot be here: apt-get install postgresql")


@contextlib.contextmanager
def postgres_server(database: str = "blueprint", password: str | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port, trust auth (or, given `password`,
    scram-sha-256 with it, in the URL), with one empty `database`; yields its SQLAlchemy URL
    (psycopg 3 driver). As root, the server runs as the `postgres` user, since PostgreSQL refuses
    to run as root."""
    bindir = postgres_bin()
    as_owner: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="blueprint-pg-"))
    if as_owner:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def run(*cmd: object) -> None:
        env = {**os.environ, "PGPASSWORD": password or ""}
        subprocess.run([*as_owner, *map(str, cmd)], check=True, capture_output=True, env=env)

    auth = ["--auth=trust"]
    if password is not None:
        (data / "pw").write_text(password)
        if as_owner:
            shutil.chown(data / "pw", "postgres", "postgres")
        auth = ["--auth=scram-sha-256", f"--pwfile={data / 'pw'}"]
    try:
        run(bindir / "initdb", "-D", data / "db", "-U", "blueprint", *auth)
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
        run(bindir / "pg_ctl", "-D", data / "db", "-o", options, "-w", "-l", data / "log", "start")
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "blueprint", database)
        user = f"blueprint:{password}" if password is not None else "blueprint"
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"
    finally:
        stop = [*as_owner, bindir / "pg_ctl", "-D", data / "db", "-m", "fast", "stop"]
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def wait_until_answering(
    server: subprocess.Popen, url: str, what: str, seconds: float = 90
) -> None:
    """Returns once `url` answers; fails the test if `server` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not answer in {seconds:g} s"
            time.sleep(0.3)


def foreground_job(cmd: list[str], **popen: Any) -> subprocess.Popen:
    """`cmd` started as a terminal starts its foreground job: in a process group of its own, with
    Ctrl-C (SIGINT) at its default action even where this test run was started with it ignored
    (as a non-interactive shell starts a background job), which a child inherits and which
    Python then leaves ignored: a server that relies on Python's KeyboardInterrupt (mkdocs) would
    never stop. An exec, not `preexec_fn`, which is unsafe beside threads (Playwright's)."""
    default_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", default_sigint, *cmd], start_new_session=True, **popen
    )


@contextlib.contextmanager
def mlflow_server(
    store: Path, backend: str | None = None, *flags: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The tracking server `make server` starts (`python -m blueprint.ui`) on loopback, its runs
    in `backend` (default: `store`/mlflow.db), its artifacts in `store`/mlruns, with `flags`
    (`--auth`, `--allowed-hosts=...`) and `env` added to its environment; yields its http URL
    once it answers. Stopped with Ctrl-C, as a user would."""
    port = free_port()
    cmd = [sys.executable, "-m", "blueprint.ui", "--host=127.0.0.1", f"--port={port}", *flags]
    server = subprocess.Popen(
        [*cmd, f"--store={store}", *([f"--backend={backend}"] if backend else [])],
        cwd=ROOT,
        env={**clean_env(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(server, f"{url}/health", "the MLflow server")
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@contextlib.contextmanager
def ray_head(cpus: int = 2) -> Iterator[str]:
    """A one-machine Ray cluster (`ray start --head --block`) on a free loopback port, without
    dashboard or usage reporting; yields its address once its control store accepts clients."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-"))
    ray = Path(sys.executable).with_name("ray")
    cmd = [
        *(str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1"),
        *(f"--port={port}", f"--num-cpus={cpus}", f"--temp-dir={temp}"),
        *("--include-dashboard=false", "--disable-usage-stats"),
    ]
    env = {**clean_env(), "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert head.poll() is None, head.stderr.read().decode() if head.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "the Ray head did not start in 90 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # `--block`: stopping it stops the cluster's processes
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def app_server(*overrides: str) -> Iterator[str]:
    """The trainer app as `make app` serves it (`python -m blueprint.app`), with `overrides`;
    yields its http URL once it answers. Stopped with Ctrl-C as a terminal sends it: to its
    process group, so a run it started stops too."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "blueprint.app", f"--port={port}", *overrides],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(server, f"{url}/_stcore/health", "the app", seconds=60)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


@contextlib.contextmanager
def dashboard_server(*overrides: str) -> Iterator[str]:
    """Optuna Dashboard as `make dashboard` serves it (`python -m blueprint.dashboard`) over the
    sweep store `overrides` name; yields the address it prints once it answers. Stopped with
    Ctrl-C, which must end it cleanly (exit status 0)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "blueprint.dashboard", f"--port={port}", *overrides],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = server.stdout.readline()  # the address line, or nothing if it ended first
        assert f"http://127.0.0.1:{port}/dashboard " in printed, printed + server.stderr.read()
        address = printed.split()[2]
        wait_until_answering(server, f"http://127.0.0.1:{port}/api/meta", "the dashboard", 60)
        yield address
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # not left behind, and the test fails: Ctrl-C did not stop it
            server.wait()
            raise
    assert code == 0, server.stderr.read()
