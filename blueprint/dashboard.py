"""`python -m blueprint.dashboard [--port 8080] [overrides ...]`: Optuna Dashboard over the sweep
store, on 127.0.0.1.

The store is the one a sweep with the same overrides writes: `hydra.sweeper.storage`, composed as
the trainer app composes it (by default multirun/optuna.db; `study_store=postgres` or
`hydra.sweeper.storage=<url>` name another). It is opened as `make sweeps` opens it, never created
or set up here: a missing file, another program's file, a corrupt one, a dead server or a port in
use is one line and exit 2 before anything listens. A password in the store's URL is never printed.

The app is Optuna Dashboard's own (`optuna_dashboard.wsgi`), served by the standard library's
WSGI server in threads, as its `optuna-dashboard` command serves it, without a line per request.
Not `optuna_dashboard.run_server`: there Ctrl-C raises KeyboardInterrupt wherever the process
is, and one raised inside a request (the page polls every few seconds) is caught by wsgiref's
error handler, so the server goes on. Here the signal only asks the server to stop between
requests.
"""

import argparse
import importlib.util
import logging
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna

from blueprint.credentials import masked
from blueprint.errors import BlueprintError, SweepError

HOST = "127.0.0.1"  # loopback only: the dashboard can delete studies and has no login
MAKES_A_SWEEP = "python -m blueprint.train --multirun hparams_search=grid"


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """A request per thread: the page asks for several things at once."""

    daemon_threads = True  # a request still running does not hold up the exit


class QuietHandler(WSGIRequestHandler):
    """No line per request (the page polls); errors inside a request are still printed."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def open_store(url: str) -> optuna.storages.RDBStorage:
    """The sweep store at `url`, only read; SweepError (one line) where there is none to show."""
    from blueprint.plumbing.sqlite_files import sqlite_path
    from blueprint.sweeps.study_store import StoreNotSetUp, open_storage

    path = sqlite_path(url)
    makes_one = f"a sweep makes it, e.g. `{MAKES_A_SWEEP}`"
    if path is not None and not path.is_file():
        raise SweepError(f"no sweeps yet: {path} does not exist; {makes_one}")
    try:
        return open_storage(url, create=False)
    except StoreNotSetUp:
        raise SweepError(
            f"no sweeps yet: {path} is not set up (a sweep starting now does that); {makes_one}"
        ) from None


def listen(port: int, app: object) -> WSGIServer:
    """The server bound to HOST:`port`; BlueprintError (one line) where it cannot be."""
    try:
        return make_server(
            HOST, port, app, server_class=ThreadingServer, handler_class=QuietHandler
        )
    except OSError as err:
        raise BlueprintError(
            f"cannot listen on {HOST}:{port} ({err.strerror}): pick another port with --port "
            "(DASHBOARD_PORT= for make dashboard)"
        ) from None


def serve(server: WSGIServer) -> None:
    """Serves until SIGINT (Ctrl-C), SIGTERM or SIGHUP, which stop it between requests."""

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown).start()  # it waits for serve_forever's loop

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    server.serve_forever()
    server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blueprint.dashboard", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=8080, help=f"on {HOST}")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides naming the store, e.g. study_store=postgres"
    )
    args = parser.parse_intermixed_args(argv)  # `--port` before, after or among the overrides
    logging.getLogger("optuna").setLevel(logging.WARNING)
    url = ""
    try:
        if importlib.util.find_spec("optuna_dashboard") is None:
            raise BlueprintError(
                "make dashboard needs optuna-dashboard: pip install -e '.[dashboard]'"
            )
        from blueprint.app.job import sweep_storage

        url = sweep_storage(args.overrides)
        storage = open_store(url)
        from optuna_dashboard import wsgi

        server = listen(args.port, wsgi(storage))
    except BlueprintError as err:
        line = str(err).replace(url, masked(url)) if url else str(err)
        print(f"error: {line}", file=sys.stderr)
        return 2
    address = f"http://{HOST}:{args.port}/dashboard"
    print(f"Optuna Dashboard: {address}  (studies in {masked(url)}; Ctrl-C stops it)", flush=True)
    serve(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
