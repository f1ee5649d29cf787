"""Study-store round trips: what one trial costs the store, SQLite file against PostgreSQL.

`python -m bench.study_store [--trials 200] [--rounds 3]`. Runs a sweep's store traffic for each
trial (take it under the store's lock, suggest two parameters, record a heartbeat, report one
intermediate value, tell it) against a fresh SQLite file and a fresh PostgreSQL database started on
loopback (tests/servers.py), alternating the two, and prints milliseconds per trial (median of the
rounds) and the ratio. No target: docs: scaling-out.md quotes the numbers.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from blueprint.sweeps.study import take_trials, trial_id
from blueprint.sweeps.study_store import open_storage
from tests.servers import postgres_server


def ms_per_trial(url: str, trials: int) -> float:
    storage = open_storage(url, create=True, heartbeat_interval=5, grace_period=20)
    study = optuna.create_study(study_name=f"bench-{time.time_ns()}", storage=storage)
    start = time.perf_counter()
    for _ in range(trials):
        (trial,) = take_trials(study, storage, url, batch=1, n_trials=trials)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("batch_size", [32, 64])
        storage.record_heartbeat(trial_id(storage, study, trial.number))
        trial.report(lr, step=0)
        study.tell(trial, lr)
    return (time.perf_counter() - start) / trials * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sqlite, postgres = [], []
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as pg_url:
        for round_ in range(args.rounds):
            sqlite_url = f"sqlite:///{Path(tmp) / f'optuna{round_}.db'}"
            sqlite.append(ms_per_trial(sqlite_url, args.trials))
            postgres.append(ms_per_trial(pg_url, args.trials))
    sqlite_ms, postgres_ms = statistics.median(sqlite), statistics.median(postgres)
    print(f"SQLite file: {sqlite_ms:.1f} ms per trial ({args.trials} trials x {args.rounds})")
    print(f"PostgreSQL:  {postgres_ms:.1f} ms per trial")
    print(f"ratio PostgreSQL / SQLite: {postgres_ms / sqlite_ms:.2f}")


if __name__ == "__main__":
    main()
