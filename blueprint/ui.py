"""`python -m blueprint.ui [--host H] [--port N] [--store DIR] [--backend URL] [--allowed-hosts
NAMES] [--auth]`: the MLflow UI over a store, quick to answer; `make ui` on loopback, `make server`
as a team's tracking server: reachable by the names its clients use (MLflow refuses any other
`Host` header), with MLflow's basic-auth login (`blueprint.server_auth`).

Prints the address of the latest run's experiment, opened on its runs table, then runs
`mlflow server`. Two settings make it answer in seconds with two server processes instead of eight:
one uvicorn worker (browsing needs no more), and MLflow 3's job runner off (six consumers of
~235 MB each, used only by GenAI evaluation jobs).

The server runs in its own session and this process hands it one Ctrl-C: in the terminal's group,
uvicorn would get the signal twice (from the terminal and forwarded by `mlflow server`), take the
second as "force quit" and print a traceback.
"""

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from blueprint.credentials import masked
from blueprint.errors import BlueprintError
from blueprint.plumbing.sqlite_files import MLFLOW_TABLES, check_owner
from blueprint.server_auth import auth_env

SERVER_ENV = {  # defaults: the environment overrides them
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",  # MLflow's, not ours
}
HOST, PORT = "127.0.0.1", 5000  # where `make ui` serves (the Makefile's PORT); the app links here
# MLflow 3 opens an experiment on its GenAI overview, and a run without a logged model as a
# GenAI "evaluation" (breadcrumb "Evaluations", GenAI sidebar): its workflow switch defaults to
# GenAI. `workflowType=machine_learning` opens both as training runs; every link blueprint
# gives carries it.
RUNS_VIEW = "#/experiments/{id}/runs?workflowType=machine_learning"
RUN_VIEW = "#/experiments/{experiment}/runs/{run}?workflowType=machine_learning"


def check_app() -> None:
    """blueprint's server app (blueprint.ui_app) is registered where `mlflow server` finds it:
    an install from before it was added lacks it; one line naming the fix."""
    from importlib.metadata import entry_points

    if not entry_points(group="mlflow.app", name="blueprint"):
        raise BlueprintError(
            "MLflow cannot find blueprint's server app (entry point mlflow.app:blueprint): "
            "reinstall blueprint (make install, or pip install -e .) and delete any stale "
            "blueprint.egg-info folder beside pyproject.toml"
        )


def check_store(store: Path) -> None:
    """A folder whose mlflow.db, if any, is an MLflow store; else one line naming the fix."""
    key = "--store (STORE= for make ui)"
    if not store.is_dir():
        raise BlueprintError(f"{store} is not a folder: point {key} at the folder of mlflow.db")
    try:
        check_owner(store / "mlflow.db", "MLflow", MLFLOW_TABLES, key)
    except sqlite3.DatabaseError as err:
        raise BlueprintError(
            f"{store / 'mlflow.db'} is not a readable SQLite file ({err}); move it aside or point "
            f"{key} at the folder of an MLflow store"
        ) from err


def latest_experiment_id(db: Path) -> str | None:
    """The experiment of the most recently started run, read without writing to the store."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT runs.experiment_id FROM runs JOIN experiments USING (experiment_id)"
                " WHERE experiments.lifecycle_stage = 'active'"
                " ORDER BY runs.start_time DESC LIMIT 1"
            ).fetchone()
    except sqlite3.DatabaseError:  # no runs table yet: the server creates it
        return None
    return str(row[0]) if row else None


def create_tables(db: Path) -> None:
    """Gives a store with no run yet its tables, in a short-lived process, under the setup lock
    a run takes: `mlflow server` creates them without it, and a run starting on the new store at
    that moment would create them too, one of the two failing ("table ... already exists")."""
    setup = "import os, blueprint.tracking.store_opening as s; s.locked_client(os.environ['URI'])"
    env = {**os.environ, "URI": f"sqlite:///{db}"}
    done = subprocess.run([sys.executable, "-c", setup], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        cause = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BlueprintError(f"cannot create MLflow's tables in {db}: {cause}")


def runs_url(host: str, port: int, experiment_id: str | None) -> str:
    base = f"http://{host}:{port}/"
    return base + RUNS_VIEW.format(id=experiment_id) if experiment_id else base


def default_allowed_hosts() -> str:
    """The names clients on other machines reach this one by: its host name and fully
    qualified name, plus localhost and loopback for clients on this machine."""
    names = [socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1"]
    return ",".join(dict.fromkeys(name for name in names if name))


def host_headers(names: str, port: int) -> list[str]:
    """The `Host` headers MLflow accepts for `names`: a plain name as browsers and MLflow
    clients send it (`name:port`) and as a reverse proxy on the default port sends it (`name`);
    an entry with a port or a wildcard as given."""
    headers: list[str] = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        plain = "*" not in name and name.count(":") == 0
        headers += [name, f"{name}:{port}"] if plain else [name]
    return headers


def cors_origins(names: str, port: int) -> list[str]:
    """The server's own origins for `names` (the UI at http://name:port, or behind a TLS proxy at
    https://name): web pages served from them may call its API."""
    plain = [n.strip() for n in names.split(",") if n.strip() and "*" not in n and ":" not in n]
    return [origin for name in plain for origin in (f"http://{name}:{port}", f"https://{name}")]


def server_command(
    host: str, port: int, store: Path, allowed_hosts: str, cors: str | None, auth: bool
) -> list[str]:
    """`mlflow server` accepting requests for `allowed_hosts` (and browser pages from `cors`,
    default: its own origins), serving artifacts from `store`/mlruns: experiments created
    through it keep theirs there (`mlflow-artifacts:/`), so clients on other machines can log.
    Its database comes through MLFLOW_BACKEND_STORE_URI, so no password is on a command line;
    it runs on this interpreter (its extras, e.g. mlflow[auth], are this environment's)."""
    origins = cors if cors is not None else ",".join(cors_origins(allowed_hosts, port))
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", "1",
        "--artifacts-destination", str(store / "mlruns"),
        "--allowed-hosts", ",".join(host_headers(allowed_hosts, port)),
        *(["--cors-allowed-origins", origins] if origins else []),
        "--app-name", "basic-auth" if auth else "blueprint",  # blueprint.ui_app
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m blueprint.ui", description=__doc__)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--store", type=Path, default=Path.cwd(), help="folder of mlflow.db")
    parser.add_argument(
        "--backend",
        default=os.environ.get("MLFLOW_BACKEND_STORE_URI") or None,
        help="a database URL for the runs instead of STORE/mlflow.db (PostgreSQL); "
        "default: MLFLOW_BACKEND_STORE_URI, which keeps its password off the command line",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=default_allowed_hosts(),
        help="comma-separated names (or MLflow wildcards) clients reach the server by "
        "(default: this machine's host name and FQDN, localhost)",
    )
    parser.add_argument(
        "--cors-allowed-origins", help="browser origins allowed to call the API (default: its own)"
    )
    parser.add_argument("--auth", action="store_true", help="MLflow's basic-auth login")
    parser.add_argument(
        "--auth-default", default="READ", help="what a signed-in user may do unless granted more"
    )
    parser.add_argument(
        "--admin-password-file", type=Path, help="first start: the admin password, on line 1"
    )
    args = parser.parse_args(argv)
    store = args.store.resolve()
    db = store / "mlflow.db"
    experiment_id = None
    try:
        if args.backend is None:
            check_store(store)
            experiment_id = latest_experiment_id(db)
            if experiment_id is None:
                create_tables(db)
        elif not store.is_dir():
            raise BlueprintError(f"{store} is not a folder: point --store at the artifacts' folder")
        env = auth_env(store, args.auth_default, args.admin_password_file) if args.auth else {}
        if not args.auth:
            check_app()
    except BlueprintError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # e.g. while a run holds the new store's setup lock
        print("MLflow UI: stopped (Ctrl-C) before it started", file=sys.stderr)
        sys.exit(130)
    backend = args.backend or f"sqlite:///{db}"
    print(f"MLflow UI: {runs_url(args.host, args.port, experiment_id)}  (Ctrl-C stops it)")
    print(f"runs in {masked(backend)}; clients may call it {args.allowed_hosts}")
    sys.stdout.flush()
    env["MLFLOW_BACKEND_STORE_URI"] = backend
    command = server_command(
        args.host, args.port, store, args.allowed_hosts, args.cors_allowed_origins, args.auth
    )
    sys.exit(serve(command, env, backend if experiment_id else None))  # new database: no marks


def mark_dead_runs(uri: str) -> None:
    """Ends the runs this host's dead processes left RUNNING, so the table shows them KILLED."""
    from mlflow import MlflowClient

    from blueprint.tracking.owner import mark_orphaned_runs

    client = MlflowClient(uri)
    mark_orphaned_runs(client, [e.experiment_id for e in client.search_experiments()])


def serve(command: list[str], settings: dict[str, str], store_uri: str | None) -> int:
    """Runs the server, with `settings` in its environment, until it exits; SIGINT or SIGTERM
    here reaches it once, as SIGINT. Meanwhile marks dead runs in `store_uri` (None: a new
    store, nothing to mark)."""
    env = SERVER_ENV | dict(os.environ)  # MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true brings it back
    server = subprocess.Popen(command, env=env | settings, start_new_session=True)

    def stop(_signum: int, _frame: object) -> None:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, kill, closed terminal
        signal.signal(signum, stop)
    if store_uri is not None:  # in a short-lived process: MLflow's ~175 MB need not stay resident
        marker = "import os, blueprint.ui as ui; ui.mark_dead_runs(os.environ['STORE_URI'])"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        env = {**os.environ, "STORE_URI": store_uri}  # a password stays off the command line
        command = [sys.executable, "-c", marker]
        cleaner = subprocess.Popen(command, env=env, start_new_session=True, **quiet)
        threading.Thread(target=cleaner.wait, daemon=True).start()  # reaped once done
    return server.wait()


if __name__ == "__main__":
    main()
